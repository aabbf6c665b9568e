"""Azure's other dialects on the wire: retry-after styles, reset and remaining headers, the 1 s
request window and a neighbour sharing the quota, each over real HTTP on a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from aoai_fallbacks._wire import go_duration
from aoai_fallbacks.emulator import DeploymentConfig, Emulator, Resource, run_emulator
from aoai_fallbacks.testing import FakeClock

from ._support import API_VERSION, DEPLOYMENT, HELLO

pytestmark = pytest.mark.integration

QUOTA_HEADERS = (
    "retry-after",
    "retry-after-ms",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
)


@contextmanager
def deployment(clock: FakeClock, **config: Any) -> Iterator[Emulator]:
    with run_emulator(deployments=[DeploymentConfig(DEPLOYMENT, **config)], clock=clock) as emu:
        yield emu


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    """One client for the module: a new one per request would cost more than the request."""
    with httpx.Client() as shared:
        yield shared


def post(http: httpx.Client, resource: Resource, **body: Any) -> httpx.Response:
    return http.post(
        f"{resource.endpoint}/openai/deployments/{DEPLOYMENT}/chat/completions",
        params={"api-version": API_VERSION},
        headers={"api-key": resource.key},
        json={"messages": HELLO, "max_tokens": 10, **body},
    )


def quota_headers(response: httpx.Response) -> dict[str, str]:
    return {name: response.headers[name] for name in QUOTA_HEADERS if name in response.headers}


def ok_then_refused(http: httpx.Client, **config: Any) -> tuple[dict[str, str], dict[str, str]]:
    """A 200, then 2.25 s later a 429 from the one-request-per-10-s window (7.75 s to go)."""
    clock = FakeClock()
    with deployment(clock, tpm=1_000_000, rpm=6, **config) as emu:
        ok = post(http, emu.resources[0])
        clock.advance(2.25)
        refused = post(http, emu.resources[0])
    assert (ok.status_code, refused.status_code) == (200, 429)
    return quota_headers(ok), quota_headers(refused)


def tokens_left(headers: dict[str, str]) -> str:
    left = headers["x-ratelimit-remaining-tokens"]
    assert 1_000_000 - 300 < int(left) < 1_000_000
    return left


def test_the_default_dialect_sends_retry_after_ms_and_exact_remaining(http: httpx.Client) -> None:
    ok, refused = ok_then_refused(
        http,
    )

    left = tokens_left(ok)
    assert ok == {"x-ratelimit-remaining-requests": "0", "x-ratelimit-remaining-tokens": left}
    assert refused == {
        "retry-after": "8",
        "retry-after-ms": "7750",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-remaining-tokens": left,  # a refusal is not charged
    }


def test_the_seconds_dialect_sends_only_whole_seconds_rounded_up(http: httpx.Client) -> None:
    ok, refused = ok_then_refused(http, retry_after="seconds")

    left = tokens_left(ok)
    assert refused == {
        "retry-after": "8",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-remaining-tokens": left,
    }


def test_the_none_dialect_says_nothing_about_when_to_come_back(http: httpx.Client) -> None:
    ok, refused = ok_then_refused(http, retry_after="none")

    assert refused == {
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-remaining-tokens": tokens_left(ok),
    }


def test_reset_headers_give_each_windows_wait_as_go_durations(http: httpx.Client) -> None:
    ok, refused = ok_then_refused(http, reset_headers=True)

    left = tokens_left(ok)
    assert ok == {
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-remaining-tokens": left,
        "x-ratelimit-reset-requests": "10s",  # the slot just taken frees in 10 s
        "x-ratelimit-reset-tokens": "0s",
    }
    assert refused == {
        "retry-after": "8",
        "retry-after-ms": "7750",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-remaining-tokens": left,
        "x-ratelimit-reset-requests": "7.75s",
        "x-ratelimit-reset-tokens": "0s",
    }


def test_reset_tokens_is_the_wait_for_another_request_of_the_same_size(http: httpx.Client) -> None:
    clock = FakeClock()
    with deployment(clock, tpm=1_000, rpm=6, reset_headers=True, retry_after="none") as emu:
        ok = post(http, emu.resources[0], max_tokens=600)
        clock.advance(12.25)
        refused = post(http, emu.resources[0], max_tokens=600)

    assert ok.status_code == 200
    assert ok.headers["x-ratelimit-reset-tokens"] == "1m0s"  # the first 600 leave in 60 s
    assert ok.headers["x-ratelimit-reset-requests"] == "10s"
    assert refused.status_code == 429
    assert refused.headers["x-ratelimit-reset-tokens"] == "47.75s"
    assert refused.headers["x-ratelimit-reset-requests"] == "0s"
    assert "retry-after" not in refused.headers


def test_remaining_headers_unknown_are_minus_one_and_off_are_absent(http: httpx.Client) -> None:
    unknown_ok, unknown_refused = ok_then_refused(http, remaining_headers="unknown")
    off_ok, off_refused = ok_then_refused(http, remaining_headers="off", retry_after="none")

    minus_one = {"x-ratelimit-remaining-requests": "-1", "x-ratelimit-remaining-tokens": "-1"}
    assert unknown_ok == minus_one
    assert unknown_refused == {"retry-after": "8", "retry-after-ms": "7750", **minus_one}
    assert off_ok == {}
    assert off_refused == {}


def test_the_omit_retry_after_fault_silences_any_dialect_while_on(http: httpx.Client) -> None:
    clock = FakeClock()
    with deployment(clock, tpm=1_000_000, rpm=6, retry_after="seconds") as emu:
        resource = emu.resources[0]
        post(http, resource)
        resource.set_faults(DEPLOYMENT, omit_retry_after=True)
        silent = post(http, resource)
        resource.set_faults(DEPLOYMENT, omit_retry_after=False)
        told = post(http, resource)

    assert (silent.status_code, told.status_code) == (429, 429)
    assert "retry-after" not in silent.headers
    assert told.headers["retry-after"] == "10"
    assert "retry-after-ms" not in told.headers


@pytest.mark.parametrize(
    ("retry_after", "early"), [("ms", False), ("seconds", True), ("none", False)]
)
def test_early_is_judged_by_what_the_429_told(
    http: httpx.Client, retry_after: str, early: bool
) -> None:
    """Told 8 s (7.75 exact), the caller comes back after 7.85 s and finds the slot taken."""
    clock = FakeClock()
    with deployment(clock, tpm=1_000_000, rpm=6, retry_after=retry_after) as emu:
        resource = emu.resources[0]
        assert post(http, resource).status_code == 200
        clock.advance(2.25)
        assert post(http, resource).status_code == 429
        clock.advance(7.75)
        assert post(http, resource).status_code == 200  # another caller takes the freed slot
        clock.advance(0.1)
        assert post(http, resource).status_code == 429
        stats = emu.stats(DEPLOYMENT)

    assert (stats.throttled, stats.throttled_early) == (2, int(early))


def test_a_one_second_window_refuses_the_burst_a_ten_second_window_admits(
    http: httpx.Client,
) -> None:
    clock = FakeClock()
    with deployment(clock, tpm=1_000_000, rpm=120, request_window=1.0) as one_second:
        resource = one_second.resources[0]
        burst = [post(http, resource) for _ in range(3)]
        clock.advance(0.5)
        half_way = post(http, resource)
        clock.advance(0.5)
        refilled = [post(http, resource) for _ in range(3)]
    with deployment(FakeClock(), tpm=1_000_000, rpm=120) as ten_seconds:
        ten_second_burst = [post(http, ten_seconds.resources[0]) for _ in range(3)]

    assert [r.status_code for r in burst] == [200, 200, 429]  # 120 RPM: 2 per second
    assert [r.headers["x-ratelimit-remaining-requests"] for r in burst] == ["1", "0", "0"]
    assert quota_headers(burst[2])["retry-after-ms"] == "1000"
    assert quota_headers(burst[2])["retry-after"] == "1"
    assert "exceeded call rate limit" in burst[2].json()["error"]["message"]
    assert half_way.status_code == 429
    assert half_way.headers["retry-after-ms"] == "500"
    assert [r.status_code for r in refilled] == [200, 200, 429]
    assert [r.status_code for r in ten_second_burst] == [200, 200, 200]  # 20 per 10 s


def test_under_sixty_rpm_a_one_second_window_admits_one_request_per_60_over_rpm_seconds(
    http: httpx.Client,
) -> None:
    clock = FakeClock()
    with deployment(clock, tpm=1_000_000, rpm=30, request_window=1.0) as emu:
        resource = emu.resources[0]
        first = post(http, resource)
        clock.advance(1.0)
        too_soon = post(http, resource)
        clock.advance(1.0)
        paced = post(http, resource)

    assert first.status_code == 200
    assert first.headers["x-ratelimit-remaining-requests"] == "0"
    assert too_soon.status_code == 429
    assert too_soon.headers["retry-after-ms"] == "1000"
    assert paced.status_code == 200


NEIGHBOUR_RPM = 60  # 10 requests per 10 s: one a second


def walk(
    http: httpx.Client, clock: FakeClock, resource: Resource, *, seconds: int, every: int | None
) -> None:
    """Move the fake clock a second at a time, posting a small request every `every` s."""
    for second in range(seconds):
        if every is not None and second % every == 0:
            post(http, resource, max_tokens=1)
        clock.advance(1.0)


def test_a_neighbour_alone_spends_about_its_share_of_the_requests() -> None:
    clock = FakeClock()
    with deployment(clock, tpm=100_000, rpm=NEIGHBOUR_RPM, neighbour=0.5) as emu:
        clock.advance(600)  # consulted once, at the end: every arrival at its own time
        stats = emu.stats(DEPLOYMENT)

    arrivals = stats.neighbour_served + stats.neighbour_throttled
    assert 250 <= arrivals <= 350  # half of one request a second, over 600 s
    assert stats.neighbour_served >= 0.95 * arrivals  # alone, it rarely fills a window
    assert (stats.requests, stats.served, stats.throttled) == (0, 0, 0)


def test_beside_a_client_the_neighbours_429s_are_counted_apart(http: httpx.Client) -> None:
    clock = FakeClock()
    with deployment(clock, tpm=100_000, rpm=NEIGHBOUR_RPM, neighbour=0.7) as emu:
        walk(http, clock, emu.resources[0], seconds=600, every=2)  # the client: half the capacity
        stats = emu.stats(DEPLOYMENT)

    # Together they ask 120% of the capacity. The client, on time every 2 s, takes back
    # each of its slots the instant it frees; the neighbour is refused what is left.
    assert stats.requests == 300
    assert stats.served + stats.throttled == 300
    assert stats.neighbour_throttled > 100
    assert 0.8 * 600 <= stats.served + stats.neighbour_served <= 600 + 10


def test_the_neighbour_is_seeded_per_emulator_resource_and_deployment() -> None:
    def counts(seed: int, resource: int, clock: FakeClock | None = None) -> tuple[int, int]:
        clock = clock or FakeClock()
        config = DeploymentConfig(DEPLOYMENT, tpm=100_000, rpm=600, neighbour=0.9)
        with run_emulator(2, [config], clock=clock, seed=seed) as emu:
            clock.advance(300)
            stats = emu.resources[resource].stats(DEPLOYMENT)
        return stats.neighbour_served, stats.neighbour_throttled

    assert counts(seed=1, resource=0) == counts(seed=1, resource=0)
    assert counts(seed=1, resource=0) != counts(seed=2, resource=0)
    assert counts(seed=1, resource=0) != counts(seed=1, resource=1)


def test_a_client_finds_only_the_room_the_neighbour_left_and_reset_starts_it_again(
    http: httpx.Client,
) -> None:
    clock = FakeClock()
    with deployment(clock, tpm=100_000, rpm=600, neighbour=0.8) as emu:
        clock.advance(10)
        burst = [post(http, emu.resources[0]) for _ in range(40)]
        before = emu.stats(DEPLOYMENT)
        emu.reset()
        after_reset = emu.stats(DEPLOYMENT)
        clock.advance(10)
        again = emu.stats(DEPLOYMENT)

    # 100 requests per 10 s, about 80 of them the neighbour's.
    left = int(burst[0].headers["x-ratelimit-remaining-requests"])
    assert 0 < left < 30
    assert [r.status_code for r in burst] == [200] * (left + 1) + [429] * (39 - left)
    assert (before.served, before.throttled) == (left + 1, 39 - left)
    assert before.neighbour_served > 60
    assert (after_reset.neighbour_served, after_reset.neighbour_throttled) == (0, 0)
    # The same arrivals again, from the reset on.
    assert again.neighbour_served + again.neighbour_throttled == (
        before.neighbour_served + before.neighbour_throttled
    )
    assert again.requests == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("retry_after", "sometimes", "retry_after is one of ms, seconds, none"),
        ("reset_headers", "yes", "reset_headers is True or False"),
        ("remaining_headers", "-1", "remaining_headers is one of exact, unknown, off"),
        ("request_window", 5.0, "request_window is 1.0 or 10.0 seconds"),
        ("neighbour", 1.0, "neighbour is a share from 0 up to"),
        ("neighbour", -0.1, "neighbour is a share from 0 up to"),
        ("neighbour", float("nan"), "neighbour is a share from 0 up to"),
        ("neighbour", "0.5", "neighbour is a share from 0 up to"),
    ],
)
def test_invalid_dialects_are_refused_with_the_field_named(
    field: str, value: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        DeploymentConfig(DEPLOYMENT, **{field: value})


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0s"),
        (0.0004, "1ms"),  # rounded up: never early
        (0.25, "250ms"),
        (1.0, "1s"),
        (1.5, "1.5s"),
        (47.75, "47.75s"),
        (60.0, "1m0s"),
        (90.5, "1m30.5s"),
        (3_600.0, "1h0m0s"),
        (7.7000000000000455, "7.7s"),  # float noise is not a millisecond more
    ],
)
def test_reset_headers_are_go_durations(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


def test_waits_are_exact_to_the_millisecond_whatever_the_float_noise(http: httpx.Client) -> None:
    clock = FakeClock()
    with deployment(clock, tpm=1_000_000, rpm=6) as emu:
        clock.advance(0.1)
        post(http, emu.resources[0])
        clock.advance(2.3)
        refused = post(http, emu.resources[0])  # 1000.1 + 10 - 1002.4: 7.7000000000000455

    assert refused.headers["retry-after-ms"] == "7700"
    assert refused.headers["retry-after"] == "8"
