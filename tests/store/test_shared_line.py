"""The line is shared: a slot that frees goes to the request that waited longest, anywhere."""

from __future__ import annotations

import pytest
import redis

from aoai_fallbacks._store import line_key
from aoai_fallbacks.balancer import Balancer, Wait
from aoai_fallbacks.testing import FakeClock
from core._support import backend, ok

from ._support import eventually
from .conftest import MakeBalancer

pytestmark = pytest.mark.integration


def full_window(make_balancer: MakeBalancer) -> tuple[Balancer, Balancer]:
    """Two balancers ("processes") over one backend that takes 1 request a window, now full."""
    one, other = make_balancer([backend("01")]), make_balancer([backend("01")])
    only = one.backends[0]
    ticket = one.ticket()
    assert one.select(ticket=ticket) == only
    one.record(only, ok(requests=0), ticket)
    # The window's lesson comes with the quota reading (one message): wait for that.
    eventually(lambda: other.snapshot()[0].remaining_requests == 0, "the other knows it is full")
    return one, other


def test_a_freed_slot_goes_to_the_request_that_waited_longest_in_any_process(
    make_balancer: MakeBalancer, clock: FakeClock
) -> None:
    one, other = full_window(make_balancer)
    older, newer = one.ticket(), other.ticket()
    assert isinstance(one.select(ticket=older), Wait)  # waits, in line everywhere
    clock.advance(1)
    assert isinstance(other.select(ticket=newer), Wait)  # waits too, a second later
    clock.advance(9.5)  # the slot has freed: both wake for it
    lost = other.select(ticket=newer)  # the newer asks first, and is told to wait
    assert isinstance(lost, Wait)
    assert lost.polling
    assert one.select(ticket=older) == one.backends[0]  # the older takes it
    one.record(one.backends[0], ok(requests=0), older)
    one.leave(older)
    clock.advance(10.05)
    assert other.select(ticket=newer) == other.backends[0]  # then its turn


def test_a_request_of_a_process_that_died_holds_nobody_back_for_long(
    make_balancer: MakeBalancer, clock: FakeClock, redis_url: str
) -> None:
    _, other = full_window(make_balancer)
    line = f"aoai-fallbacks:{line_key(other.deployment_keys())}"
    died = clock.time() - 200  # a request that began to wait long ago, its lease long over
    client = redis.Redis.from_url(redis_url)
    client.zadd(line, {f"gone|1|{died + 90!r}": died})
    waiting = other.ticket()
    assert isinstance(other.select(ticket=waiting), Wait)
    clock.advance(10.05)
    assert other.select(ticket=waiting) == other.backends[0]
    assert client.zcard(line) == 0  # the dead one was dropped on the way, the other admitted
