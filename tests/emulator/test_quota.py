"""Quota arithmetic on the injected clock: sliding windows, exact refill times, no sleeping."""

from __future__ import annotations

import pytest

from aoai_fallbacks.emulator._quota import Quota, SlidingWindow, default_rpm, request_window
from aoai_fallbacks.testing import FakeClock


def test_default_rpm_is_six_per_thousand_tpm() -> None:
    assert default_rpm(10_000) == 60
    assert default_rpm(1_000) == 6
    assert default_rpm(500) == 3


def test_window_fits_until_full_then_waits_for_the_oldest_charge_to_age_out() -> None:
    window = SlidingWindow(capacity=100, length=60.0)
    window.charge(40, now=0.0)
    window.charge(50, now=10.0)

    assert window.remaining(now=10.0) == 10
    assert window.wait_for(10, now=10.0) == 0.0
    # 30 more needs the 40 charged at t=0 gone: at t=60, 45 s from now.
    assert window.wait_for(30, now=15.0) == pytest.approx(45.0)
    # 70 more needs both charges gone: the 50 leaves at t=70.
    assert window.wait_for(70, now=15.0) == pytest.approx(55.0)
    assert window.remaining(now=60.0) == 50
    assert window.remaining(now=70.0) == 100


def test_a_charge_larger_than_the_window_waits_a_whole_window() -> None:
    window = SlidingWindow(capacity=100, length=60.0)
    assert window.wait_for(101, now=0.0) == 60.0


def test_tokens_are_charged_on_arrival_and_refused_with_the_true_refill_time() -> None:
    clock = FakeClock()
    quota = Quota(tpm=1_000, rpm=600, clock=clock)

    first = quota.admit(600)
    clock.advance(5)
    second = quota.admit(300)
    clock.advance(1)
    refused = quota.admit(200)

    assert first.admitted
    assert second.admitted
    assert (first.remaining_tokens, second.remaining_tokens) == (400, 100)
    assert not refused.admitted
    assert refused.limit == "tokens"
    # The first 600 leave the 60 s window at t=60; it is now t=6.
    assert refused.retry_after == pytest.approx(54.0)
    assert refused.remaining_tokens == 100  # a refusal is not charged

    clock.advance(refused.retry_after)
    assert quota.admit(200).admitted


def test_requests_are_limited_to_a_sixth_of_rpm_per_ten_seconds() -> None:
    clock = FakeClock()
    quota = Quota(tpm=1_000_000, rpm=60, clock=clock)

    admitted = []
    for _ in range(10):
        admitted.append(quota.admit(1))
        clock.advance(0.5)
    refused = quota.admit(1)

    assert all(a.admitted for a in admitted)
    assert [a.remaining_requests for a in admitted] == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
    assert not refused.admitted
    assert refused.limit == "requests"
    # The first request (t=0) leaves the 10 s window at t=10; it is now t=5.
    assert refused.retry_after == pytest.approx(5.0)

    clock.advance(5.0)
    assert quota.admit(1).admitted


def test_fewer_than_six_rpm_are_counted_over_the_minute() -> None:
    clock = FakeClock()
    quota = Quota(tpm=1_000_000, rpm=2, clock=clock)

    assert quota.admit(1).admitted
    assert quota.admit(1).admitted
    refused = quota.admit(1)

    assert not refused.admitted
    assert refused.retry_after == pytest.approx(60.0)


def test_the_longer_wait_of_both_limits_is_the_retry_after() -> None:
    clock = FakeClock()
    quota = Quota(tpm=100, rpm=6, clock=clock)  # 1 request per 10 s, 100 tokens per 60 s

    assert quota.admit(100).admitted
    clock.advance(2)
    refused = quota.admit(10)

    assert refused.limit == "tokens"
    assert refused.retry_after == pytest.approx(58.0)


def test_a_refusal_before_an_earlier_retry_after_has_passed_is_early() -> None:
    clock = FakeClock()
    quota = Quota(tpm=1_000_000, rpm=6, clock=clock)  # 1 request per 10 s
    assert quota.admit(1).admitted

    first = quota.admit(1)
    clock.advance(9.0)
    hammering = quota.admit(1)  # told to wait 10 s, came back after 9
    clock.advance(1.0)
    assert quota.admit(1).admitted  # waited it out: the slot is this request's
    clock.advance(0.5)
    after_waiting = quota.admit(1)  # a new window full, a new retry-after

    assert [r.early for r in (first, hammering, after_waiting)] == [False, True, False]
    assert not any(r.admitted for r in (first, hammering, after_waiting))


def test_a_refusal_without_a_retry_after_makes_no_later_one_early() -> None:
    clock = FakeClock()
    quota = Quota(tpm=1_000_000, rpm=6, clock=clock)  # 1 request per 10 s
    assert quota.admit(1).admitted

    quota.admit(1, announce="none")
    clock.advance(1.0)
    assert quota.admit(1, announce="none").early is False
    quota.admit(1)  # told: 8 s to go
    clock.advance(1.0)
    assert quota.admit(1, announce="none").early is True


def test_clear_empties_both_windows() -> None:
    clock = FakeClock()
    quota = Quota(tpm=100, rpm=6, clock=clock)
    quota.admit(100)

    quota.clear()

    assert quota.remaining() == (1, 100)


@pytest.mark.parametrize(
    ("rpm", "length", "capacity", "window"),
    [
        (60, 10.0, 10, 10.0),
        (2, 10.0, 2, 60.0),  # under 6 RPM: the minute
        (120, 1.0, 2, 1.0),
        (90, 1.0, 1, 1.0),
        (30, 1.0, 1, 2.0),  # under 60 RPM: one request per 60/RPM seconds
        (7, 1.0, 1, 60 / 7),
        (0, 1.0, 0, 60.0),
    ],
)
def test_request_windows_hold_at_least_one_whole_request(
    rpm: int, length: float, capacity: int, window: float
) -> None:
    requests = request_window(rpm, length)
    assert (requests.capacity, requests.length) == (capacity, pytest.approx(window))


def neighbour_counts(*, consulted_often: bool, seed: str = "s") -> tuple[int, int, int]:
    clock = FakeClock()
    quota = Quota(tpm=100_000, rpm=600, clock=clock, neighbour=0.95, seed=seed)
    for _ in range(600):
        clock.advance(0.5)
        if consulted_often:
            quota.remaining()
    served, throttled = quota.neighbour_counts()
    return served, throttled, quota.remaining()[0]


def test_neighbour_arrivals_are_charged_at_their_own_times_however_often_it_is_consulted() -> None:
    once = neighbour_counts(consulted_often=False)

    assert neighbour_counts(consulted_often=True) == once
    served, throttled, _ = once
    # 0.95 x 10 requests a second over 300 s; Poisson bursts overflow the windows now and then.
    assert 2_650 <= served + throttled <= 3_050
    assert throttled > 0
    assert neighbour_counts(consulted_often=False, seed="other") != once


def test_the_neighbour_charges_its_tokens_per_request_ratio() -> None:
    clock = FakeClock()
    quota = Quota(tpm=60_000, rpm=60, clock=clock, neighbour=0.5, seed="s")
    clock.advance(30)
    served, _ = quota.neighbour_counts()
    requests_left, tokens_left = quota.remaining()

    assert served > 0
    assert 60_000 - tokens_left == served * 1_000  # 60,000 TPM / 60 RPM
    assert requests_left < 10


def test_clear_starts_the_neighbour_again_from_now() -> None:
    clock = FakeClock()
    quota = Quota(tpm=100_000, rpm=600, clock=clock, neighbour=0.5, seed="s")
    clock.advance(20)
    first = quota.neighbour_counts()
    quota.clear()
    cleared = quota.neighbour_counts()
    clock.advance(20)

    assert cleared == (0, 0)
    assert quota.neighbour_counts() == first
