"""The gate: a backend likely to refuse takes one request at a time, everyone else waits briefly.

After a cooldown a sliding window frees one slot at a time, and a known
remaining quota of zero means the next request would be a 429: sending the
whole waiting crowd there buys one answer and a 429 for each of the others.
"""

from __future__ import annotations

import random

import pytest

from aoai_fallbacks._health import PROBE_POLL
from aoai_fallbacks.balancer import Balancer, Wait
from aoai_fallbacks.testing import FakeClock

from ._support import backend, failed, names, ok, pick, throttled
from .conftest import MakeBalancer


@pytest.fixture
def single(make_balancer: MakeBalancer) -> Balancer:
    return make_balancer([backend("01")], attempt_timeout=60.0)


def polls(choice: object) -> bool:
    """Whether `choice` is a short poll while a probe is out."""
    return isinstance(choice, Wait) and choice.polling


def test_after_a_cooldown_one_probe_goes_and_the_rest_wait(
    single: Balancer, clock: FakeClock
) -> None:
    first = single.backends[0]
    single.record(first, throttled(retry_after="5"))
    clock.advance(5)
    assert pick(single) == "01"  # the probe
    assert all(polls(single.select()) for _ in range(100))  # no pile behind it
    single.record(first, ok())  # a success without quota headers: fully open again
    assert names(single, 100) == {"01"}


def test_a_throttled_probe_cools_again_for_its_exact_retry_after(
    single: Balancer, clock: FakeClock
) -> None:
    first = single.backends[0]
    single.record(first, throttled(retry_after="5"))
    clock.advance(5)
    probe = single.select()
    assert not isinstance(probe, Wait)
    assert single.record(probe, throttled(retry_after_ms="1234")) == pytest.approx(1.234)
    assert single.select() == Wait(pytest.approx(1.234))
    clock.advance(1.234)
    assert pick(single) == "01"
    assert polls(single.select())


def test_a_failed_probe_keeps_the_gate(single: Balancer, clock: FakeClock) -> None:
    first = single.backends[0]
    single.record(first, throttled(retry_after="5"))
    clock.advance(5)
    assert pick(single) == "01"
    single.record(first, failed(500))  # one failure: the circuit stays closed, the gate too
    assert pick(single) == "01"
    assert polls(single.select())


def test_a_straggler_success_during_the_cooldown_does_not_open_the_gate(
    single: Balancer, clock: FakeClock
) -> None:
    first = single.backends[0]
    single.record(first, throttled(retry_after="5"))
    single.record(first, ok())  # sent before the 429, answered after it
    clock.advance(5)
    assert pick(single) == "01"
    assert polls(single.select())


def test_known_zero_remaining_lets_one_probe_through(single: Balancer) -> None:
    first = single.backends[0]
    single.record(
        first, ok(requests=0)
    )  # full, and nothing of ours in it: when it frees is unknown
    assert pick(single) == "01"  # the window may have moved on: one request finds out
    assert polls(single.select())
    single.record(first, ok(requests=3))  # it had room: 3 after the probe, 4 in a window
    assert [pick(single) for _ in range(3)] == ["01", "01", "01"]
    # Full again, and every request in the window is ours: the first frees 10 s after it
    # was sent, unless the window is 1 s long, which one request asks after a second.
    assert single.select() == Wait(pytest.approx(1.005))


def test_room_is_what_the_window_holds_less_what_was_sent_since(
    single: Balancer, clock: FakeClock
) -> None:
    first = single.backends[0]
    single.record(first, throttled(retry_after_ms="10000"))  # a 10 s window: no 1 s question
    clock.advance(10)
    single.record(first, ok(requests=2))
    assert pick(single) == "01"
    assert pick(single) == "01"
    clock.advance(0.5)
    assert single.select() == Wait(pytest.approx(9.55))  # full until the first leaves the window
    single.record(first, ok(requests=1))  # the first: charged with nothing before it, 1 left
    assert single.select() == Wait(pytest.approx(9.55))  # the second took that one
    single.record(first, ok(requests=1))  # the second says 1 left after it: there is room
    assert pick(single) == "01"
    assert single.select() == Wait(pytest.approx(9.55))


def test_known_tokens_minus_those_in_flight_gate_by_cost(single: Balancer) -> None:
    single.record(single.backends[0], ok(tokens=1_000, requests=100))
    assert pick(single, cost=400) == "01"
    assert pick(single, cost=400) == "01"
    assert polls(single.select(cost=400))  # 1,000 - 800 in flight < 400
    assert pick(single, cost=100) == "01"  # a smaller request still fits


def test_release_frees_the_slot_at_once(single: Balancer, clock: FakeClock) -> None:
    first = single.backends[0]
    single.record(first, throttled(retry_after="5"))
    clock.advance(5)
    probe = single.select()
    assert not isinstance(probe, Wait)
    single.release(probe)  # its caller was cancelled before an answer
    assert pick(single) == "01"


def test_a_request_in_flight_longer_than_the_attempt_timeout_is_presumed_lost(
    single: Balancer, clock: FakeClock
) -> None:
    single.record(single.backends[0], ok(requests=0))
    assert pick(single) == "01"  # this caller never reports back
    clock.advance(59.9)
    assert single.select() == Wait(pytest.approx(0.1), polling=True)
    clock.advance(0.1)
    assert pick(single) == "01"


def test_backends_without_quota_headers_are_never_gated(make_balancer: MakeBalancer) -> None:
    balancer = make_balancer([backend("01"), backend("02")])
    for b in balancer.backends:
        balancer.record(b, ok())
    assert names(balancer, 1_000, cost=10**6) == {"01", "02"}  # thousands in flight, no wait


def test_backends_with_room_are_never_gated(make_balancer: MakeBalancer) -> None:
    balancer = make_balancer([backend("01"), backend("02")])
    for b in balancer.backends:
        balancer.record(b, ok(tokens=10**9, requests=1_000))
    assert names(balancer, 1_000, cost=100) == {"01", "02"}


def test_no_wait_while_another_backend_has_room(make_balancer: MakeBalancer) -> None:
    balancer = make_balancer([backend("01"), backend("02"), backend("03", priority=2)])
    one, two, _ = balancer.backends
    balancer.record(one, ok(requests=0))
    balancer.record(two, throttled(retry_after="30"))
    assert pick(balancer) == "01"  # a probe in its own priority group comes first
    assert names(balancer, 300) == {"03"}  # then the next group, never a wait


def test_a_recovering_backend_rejoins_the_rotation_with_its_probe(
    make_balancer: MakeBalancer, clock: FakeClock
) -> None:
    balancer = make_balancer([backend("01"), backend("02")])
    balancer.record(balancer.backends[0], throttled(retry_after="5"))
    clock.advance(5)
    assert names(balancer, 300) == {"01", "02"}  # 01 once, as its probe; 02 throughout


def test_waiters_come_back_at_jittered_times(make_balancer: MakeBalancer) -> None:
    balancer = make_balancer([backend("01")])
    balancer.record(balancer.backends[0], ok(requests=0))
    assert pick(balancer) == "01"
    waits = [balancer.select() for _ in range(50)]
    seconds = [w.seconds for w in waits if isinstance(w, Wait) and w.seconds is not None]
    assert len(seconds) == 50
    low, high = PROBE_POLL
    assert all(low <= s <= high for s in seconds)
    assert len(set(seconds)) == 50  # never the same instant for all


def test_jitter_comes_from_the_seeded_rng(clock: FakeClock) -> None:
    def waits(seed: int) -> list[Wait | str]:
        balancer = Balancer([backend("01")], clock=clock, rng=random.Random(seed))
        balancer.record(balancer.backends[0], ok(requests=0))
        pick(balancer)
        return [balancer.select() for _ in range(5)]

    assert waits(3) == waits(3)
    assert waits(3) != waits(4)


def test_a_cooldown_end_is_waited_for_exactly(single: Balancer, clock: FakeClock) -> None:
    single.record(single.backends[0], throttled(retry_after="6"))
    assert single.select() == Wait(6.0)  # a known time, not a poll


def test_a_caller_out_of_patience_gets_the_gated_backend_rather_than_nothing(
    single: Balancer,
) -> None:
    single.record(single.backends[0], ok(requests=0))
    assert pick(single) == "01"
    assert polls(single.select(patience=5.0))
    assert pick(single, patience=0.0) == "01"  # a likely 429 beats a certain error


def test_patience_never_reaches_a_cooling_backend(single: Balancer) -> None:
    single.record(single.backends[0], throttled(retry_after="6"))
    assert single.select(patience=0.0) == Wait(6.0)
