"""Waiting in line: a request that must wait is served in the order it began to wait."""

from __future__ import annotations

import pytest

from aoai_fallbacks.balancer import Balancer, Ticket, Wait
from aoai_fallbacks.testing import FakeClock

from ._support import backend, ok, throttled
from .conftest import MakeBalancer


@pytest.fixture
def full(make_balancer: MakeBalancer, clock: FakeClock) -> Balancer:
    """One backend that takes 2 requests per 10 s window, both just taken."""
    balancer = make_balancer([backend("01")])
    first, second, third = (balancer.ticket() for _ in range(3))
    for ticket in (first, second, third):
        assert not isinstance(balancer.select(ticket=ticket), Wait)  # nothing known yet
    only = balancer.backends[0]
    balancer.record(only, ok(requests=1), first)
    balancer.record(only, ok(requests=0), second)
    balancer.record(only, throttled(retry_after_ms="10000"), third)  # a 10 s window, full
    return balancer


def listen(ticket: Ticket, name: str, rang: list[str]) -> None:
    """Note `name` in `rang` at the next ring of the ticket's bell (rings before are spent)."""
    while not ticket.bell.listen(lambda: rang.append(name)):
        pass


def wait_of(balancer: Balancer, ticket: Ticket) -> float:
    choice = balancer.select(ticket=ticket)
    assert isinstance(choice, Wait), choice
    assert choice.seconds is not None
    return choice.seconds


def test_each_waiter_is_told_the_slot_after_those_before_it(full: Balancer) -> None:
    first, second, third = (full.ticket() for _ in range(3))
    assert full.waiting == 0
    assert wait_of(full, first) == pytest.approx(10.05)  # the first request leaves the window
    # With a line, the backend takes its requests at the pace its window refills:
    # two a 10 s window, one every 5 s.
    assert wait_of(full, second) == pytest.approx(15.05)
    assert wait_of(full, third) == pytest.approx(20.1)  # the first slot, taken, frees again
    assert full.waiting == 3
    full.leave(second)
    assert full.waiting == 2


def test_a_newcomer_does_not_take_a_slot_a_waiter_is_owed(
    full: Balancer, clock: FakeClock
) -> None:
    first, second, newcomer = full.ticket(), full.ticket(), full.ticket()
    wait_of(full, first)
    wait_of(full, second)
    clock.advance(10.05)  # a slot is free (at the refill pace) while the waiters sleep
    assert isinstance(full.select(ticket=newcomer), Wait)  # behind them in line
    assert isinstance(full.select(ticket=second), Wait)  # the first is owed it
    assert full.select(ticket=first) == full.backends[0]
    clock.advance(5.0)  # the next, at the pace the window refills
    assert isinstance(full.select(ticket=newcomer), Wait)
    assert full.select(ticket=second) == full.backends[0]
    assert isinstance(full.select(ticket=newcomer), Wait)  # the window is full again


def test_without_a_ticket_nobody_waits_in_line(full: Balancer, clock: FakeClock) -> None:
    wait_of(full, full.ticket())
    clock.advance(10.05)
    assert full.select() == full.backends[0]  # no ticket: takes what is free, as before


def test_the_first_in_line_is_woken_when_room_may_have_come(full: Balancer) -> None:
    first, second = full.ticket(), full.ticket()
    wait_of(full, first)
    wait_of(full, second)
    rang: list[str] = []
    listen(first, "first", rang)
    listen(second, "second", rang)
    full.record(full.backends[0], ok(requests=1))  # a verdict: maybe room
    assert rang == ["first"]


def test_leaving_the_line_wakes_the_next(full: Balancer) -> None:
    first, second = full.ticket(), full.ticket()
    wait_of(full, first)
    wait_of(full, second)
    rang: list[str] = []
    listen(second, "second", rang)
    full.leave(first)  # e.g. its caller gave up
    assert rang == ["second"]
    full.leave(second)
    full.leave(second)  # leaving twice is harmless


def test_a_request_refused_after_its_turn_keeps_its_place(
    full: Balancer, clock: FakeClock
) -> None:
    first, second = full.ticket(), full.ticket()
    wait_of(full, first)
    wait_of(full, second)
    clock.advance(10.05)
    only = full.backends[0]
    assert full.select(ticket=first) == only  # its turn
    full.record(only, throttled(retry_after_ms="1000"), first)  # refused after all
    assert isinstance(full.select(ticket=first), Wait)  # back in line, at its own place
    clock.advance(1.0)
    assert isinstance(full.select(ticket=second), Wait)  # the first is still before it
    assert full.select(ticket=first) == only
