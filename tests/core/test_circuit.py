"""Circuit breaking and quarantine: open after failures, one half-open probe, close or reopen."""

from __future__ import annotations

import logging

import pytest

from aoai_fallbacks._classify import classify_failure
from aoai_fallbacks.balancer import Balancer, Wait
from aoai_fallbacks.testing import FakeClock

from ._support import SECRET, backend, failed, names, ok, pick, throttled, timeout, unauthorized
from .conftest import MakeBalancer


@pytest.fixture
def balancer(make_balancer: MakeBalancer) -> Balancer:
    return make_balancer(
        [backend("01"), backend("02")],
        failure_threshold=3,
        circuit_open_for=30,
        quarantine_for=300,
        attempt_timeout=60,
    )


def state(balancer: Balancer, index: int = 0) -> str:
    return balancer.snapshot()[index].state


def open_circuit(balancer: Balancer) -> None:
    first = balancer.backends[0]
    for verdict in (failed(500), timeout(), failed(502)):
        balancer.record(first, verdict)


def test_circuit_opens_after_consecutive_failures(balancer: Balancer) -> None:
    first = balancer.backends[0]
    balancer.record(first, failed(503))
    balancer.record(first, timeout())
    assert state(balancer) == "available"
    assert "01" in names(balancer)
    balancer.record(first, failed(504))
    assert state(balancer) == "open"
    assert names(balancer, 300) == {"02"}
    assert balancer.snapshot()[0].cooldown_remaining == 30.0


def test_a_success_resets_the_failure_count(balancer: Balancer) -> None:
    first = balancer.backends[0]
    for verdict in (failed(), failed(), ok(), failed(), failed()):
        balancer.record(first, verdict)
    assert state(balancer) == "available"


def test_half_open_lets_exactly_one_probe_through(balancer: Balancer, clock: FakeClock) -> None:
    open_circuit(balancer)
    clock.advance(29.9)
    assert balancer.select(exclude={"02"}) == Wait(pytest.approx(0.1))
    clock.advance(0.1)
    assert state(balancer) == "half-open"
    assert pick(balancer, exclude={"02"}) == "01"  # the probe
    # While the probe is out, nobody else gets 01; they are told to look again soon.
    assert names(balancer, 300) == {"02"}
    wait = balancer.select(exclude={"02"})
    assert isinstance(wait, Wait)
    assert wait.polling
    assert wait.seconds is not None
    assert 0.1 <= wait.seconds <= 0.4


def test_successful_probe_closes_the_circuit(balancer: Balancer, clock: FakeClock) -> None:
    open_circuit(balancer)
    clock.advance(30)
    probe = balancer.select(exclude={"02"})
    assert not isinstance(probe, Wait)
    balancer.record(probe, ok())
    assert state(balancer) == "available"
    assert names(balancer, 300) == {"01", "02"}


def test_failed_probe_reopens_for_a_full_period(balancer: Balancer, clock: FakeClock) -> None:
    open_circuit(balancer)
    clock.advance(30)
    probe = balancer.select(exclude={"02"})
    assert not isinstance(probe, Wait)
    clock.advance(2)
    balancer.record(probe, timeout())
    assert state(balancer) == "open"
    assert balancer.select(exclude={"02"}) == Wait(30.0)
    clock.advance(30)
    assert pick(balancer, exclude={"02"}) == "01"


def test_throttled_probe_closes_the_circuit_and_cools(
    balancer: Balancer, clock: FakeClock
) -> None:
    open_circuit(balancer)
    clock.advance(30)
    probe = balancer.select(exclude={"02"})
    assert not isinstance(probe, Wait)
    balancer.record(probe, throttled(retry_after="5"))
    assert state(balancer) == "cooling"
    clock.advance(5)
    assert state(balancer) == "available"
    assert names(balancer, 300) == {"01", "02"}


def test_a_lost_probe_is_replaced_after_the_attempt_timeout(
    balancer: Balancer, clock: FakeClock
) -> None:
    open_circuit(balancer)
    clock.advance(30)
    assert pick(balancer, exclude={"02"}) == "01"  # this caller never reports back
    clock.advance(59.9)
    assert balancer.select(exclude={"02"}) == Wait(pytest.approx(0.1), polling=True)
    clock.advance(0.1)
    assert pick(balancer, exclude={"02"}) == "01"


def test_release_frees_the_probe_at_once(balancer: Balancer, clock: FakeClock) -> None:
    open_circuit(balancer)
    clock.advance(30)
    probe = balancer.select(exclude={"02"})
    assert not isinstance(probe, Wait)
    balancer.release(probe)
    assert pick(balancer, exclude={"02"}) == "01"


def test_a_straggler_failure_does_not_extend_an_open_circuit(
    balancer: Balancer, clock: FakeClock
) -> None:
    open_circuit(balancer)
    clock.advance(10)
    balancer.record(balancer.backends[0], failed(500))  # sent before the circuit opened
    assert balancer.select(exclude={"02"}) == Wait(20.0)


def test_misconfigured_backend_is_quarantined_at_once_and_loudly(
    balancer: Balancer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="aoai_fallbacks"):
        balancer.record(balancer.backends[0], unauthorized())
    assert state(balancer) == "quarantined"
    assert names(balancer, 300) == {"02"}
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "backend 01 (gpt-35-turbo) is misconfigured (401)" in warning.getMessage()
    assert SECRET not in caplog.text
    clock.advance(299)
    assert balancer.select(exclude={"02"}) == Wait(1.0)


def test_quarantine_ends_with_a_single_probe(balancer: Balancer, clock: FakeClock) -> None:
    first = balancer.backends[0]
    balancer.record(first, unauthorized())
    clock.advance(300)
    assert state(balancer) == "half-open"
    assert pick(balancer, exclude={"02"}) == "01"
    assert names(balancer, 100) == {"02"}
    balancer.record(first, unauthorized())  # still misconfigured
    assert state(balancer) == "quarantined"
    clock.advance(300)
    assert pick(balancer, exclude={"02"}) == "01"
    balancer.record(first, ok())  # fixed meanwhile
    assert state(balancer) == "available"
    assert names(balancer, 300) == {"01", "02"}


def test_state_changes_are_logged(
    balancer: Balancer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="aoai_fallbacks"):
        open_circuit(balancer)
        clock.advance(30)
        probe = balancer.select(exclude={"02"})
        assert not isinstance(probe, Wait)
        balancer.record(probe, ok())
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert messages == [
        (
            "WARNING",
            "backend 01 (gpt-35-turbo): circuit opened for 30 s, 3 failures in a row (last: 502)",
        ),
        ("INFO", "backend 01 (gpt-35-turbo): half-open, sending one request as a probe"),
        ("INFO", "backend 01 (gpt-35-turbo) recovered (200): circuit closed"),
    ]


def test_release_of_an_ordinary_selection_changes_nothing(balancer: Balancer) -> None:
    chosen = balancer.select()
    assert not isinstance(chosen, Wait)
    balancer.release(chosen)
    assert [s.state for s in balancer.snapshot()] == ["available", "available"]
    assert names(balancer, 300) == {"01", "02"}


def test_only_cooling_verdicts_report_a_cooldown(balancer: Balancer) -> None:
    first = balancer.backends[0]
    assert balancer.record(first, ok()) is None
    assert balancer.record(first, failed(500)) is None
    assert balancer.record(first, unauthorized()) is None
    assert balancer.record(first, throttled(retry_after="3")) == 3.0


def test_a_timeout_counts_unless_a_later_request_was_answered_meanwhile(
    make_balancer: MakeBalancer,
) -> None:
    """Issue 10: a long generation cut by a timeout opened the circuit of a healthy backend."""
    balancer = make_balancer([backend("01")], failure_threshold=1)
    long, short = balancer.ticket(), balancer.ticket()
    first = balancer.select(ticket=long)
    assert not isinstance(first, Wait)
    assert pick(balancer, ticket=short) == "01"
    balancer.record(first, throttled(retry_after_ms="1"), short)  # it answers a newer one
    balancer.record(first, timeout(), long)  # then the long one times out: slow, not dead
    status = balancer.snapshot()[0]
    assert (status.state, status.failed, status.throttled) == ("cooling", 1, 1)
    hung = make_balancer([backend("01")], failure_threshold=1)
    older, newer = hung.ticket(), hung.ticket()
    assert pick(hung, ticket=older) == pick(hung, ticket=newer) == "01"
    hung.record(hung.backends[0], timeout(), newer)
    assert state(hung) == "open"  # nothing answered meanwhile: a timeout is a failure


def test_a_success_that_breaks_later_counts_once_as_a_failure(
    make_balancer: MakeBalancer, clock: FakeClock
) -> None:
    """Issue 10: a stream cut after its first chunk counted as served and failed."""
    balancer = make_balancer([backend("01")], failure_threshold=2)
    first = balancer.backends[0]
    streamed, other = balancer.ticket(), balancer.ticket()
    assert pick(balancer, ticket=streamed) == pick(balancer, ticket=other) == "01"
    balancer.record(first, ok(), streamed)  # its first chunk
    assert balancer.interrupted(first, classify_failure("stream", retry_after=10.0)) == 10.0
    status = balancer.snapshot()[0]
    assert (status.state, status.served, status.failed) == ("cooling", 0, 1)
    clock.advance(10)
    # Out of its cooldown, one request at a time: the other is still in flight, so wait.
    assert isinstance(balancer.select(), Wait)
    balancer.record(first, ok(), other)
    assert pick(balancer) == "01"
