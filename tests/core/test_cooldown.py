"""Cooldowns: after a 429 a backend gets no traffic until its Retry-After has passed, then does."""

from __future__ import annotations

import pytest

from aoai_fallbacks._classify import classify_response
from aoai_fallbacks.balancer import Balancer
from aoai_fallbacks.testing import FakeClock

from ._support import backend, failed, names, ok, throttled
from .conftest import MakeBalancer


@pytest.fixture
def pair(make_balancer: MakeBalancer) -> Balancer:
    return make_balancer([backend("01"), backend("02")], default_cooldown=10, max_cooldown=60)


def test_no_selection_until_retry_after_has_passed(pair: Balancer, clock: FakeClock) -> None:
    first = pair.backends[0]
    assert pair.record(first, throttled(retry_after="7")) == 7.0
    assert names(pair, 500) == {"02"}
    clock.advance(6.999)
    assert names(pair, 500) == {"02"}
    clock.advance(0.001)
    assert names(pair, 500) == {"01", "02"}


def test_retry_after_ms_wins(pair: Balancer, clock: FakeClock) -> None:
    assert pair.record(pair.backends[0], throttled(retry_after_ms="2500", retry_after="9")) == 2.5
    clock.advance(2.4)
    assert names(pair, 300) == {"02"}
    clock.advance(0.1)
    assert "01" in names(pair, 300)


def test_missing_headers_use_the_default(pair: Balancer, clock: FakeClock) -> None:
    assert pair.record(pair.backends[0], throttled()) == 10.0
    clock.advance(9.9)
    assert names(pair, 300) == {"02"}
    clock.advance(0.1)
    assert "01" in names(pair, 300)


def test_the_cap_holds(pair: Balancer, clock: FakeClock) -> None:
    assert pair.record(pair.backends[0], throttled(retry_after="3600")) == 60.0
    clock.advance(60)
    assert "01" in names(pair, 300)


def test_zero_or_past_retry_after_still_cools_briefly(
    make_balancer: MakeBalancer, clock: FakeClock
) -> None:
    balancer = make_balancer([backend("01")], min_cooldown=0.5)
    assert balancer.record(balancer.backends[0], throttled(retry_after="0")) == 0.5
    assert names(balancer, 10) == {"wait"}
    clock.advance(0.5)
    assert names(balancer, 10) == {"01", "wait"}  # one probe, then wait for its verdict


def test_a_later_429_never_shortens_a_cooldown(pair: Balancer, clock: FakeClock) -> None:
    first = pair.backends[0]
    pair.record(first, throttled(retry_after="30"))
    pair.record(first, throttled(retry_after="2"))
    clock.advance(29)
    assert names(pair, 300) == {"02"}
    assert pair.snapshot()[0].cooldown_remaining == pytest.approx(1.0)


def test_a_success_in_flight_does_not_end_a_cooldown(pair: Balancer) -> None:
    first = pair.backends[0]
    pair.record(first, throttled(retry_after="30"))
    pair.record(first, ok())  # an answer to a request sent before the 429
    assert names(pair, 300) == {"02"}


def test_503_with_retry_after_cools_like_a_429_and_counts_as_a_failure(
    pair: Balancer,
    clock: FakeClock,
) -> None:
    first = pair.backends[0]
    verdict = classify_response(503, {"retry-after": "4"}, None, now_wall=clock.time())
    assert pair.record(first, verdict) == 4.0
    status = pair.snapshot()[0]
    assert (status.state, status.failed, status.throttled) == ("cooling", 1, 0)
    clock.advance(4)
    assert "01" in names(pair, 300)


def test_plain_failures_do_not_cool(pair: Balancer) -> None:
    assert pair.record(pair.backends[0], failed(500)) is None
    assert "01" in names(pair, 300)
