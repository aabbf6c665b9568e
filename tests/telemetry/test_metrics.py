"""Attempts, 429s, waits, and the balancer's gauges, as an SDK's metric reader sees them."""

from __future__ import annotations

from typing import Any

import pytest

from aoai_fallbacks import Balancer, balanced_openai_client
from aoai_fallbacks._classify import classify_failure
from aoai_fallbacks.balancer import Ticket, Wait
from aoai_fallbacks.emulator import run_emulator
from aoai_fallbacks.testing import FakeClock
from transport._support import ask, backends_of

from .conftest import Recorded
from .test_spans import BIG, SMALL, port, throttling_pair

pytestmark = pytest.mark.integration

STATE = "aoai_fallbacks.state"


def by_backend(points: list[Any], port: int, *keys: str) -> dict[tuple[Any, ...], Any]:
    """`points` of the backend on `port`, keyed by its name and the attributes `keys`."""
    return {
        (p.attributes["aoai_fallbacks.backend"], *(p.attributes[k] for k in keys)): p
        for p in points
        if p.attributes["server.port"] == port
    }


def values(points: list[Any], ports: list[int], *keys: str) -> dict[tuple[Any, ...], Any]:
    found = {}
    for one in ports:
        found.update({k: p.value for k, p in by_backend(points, one, *keys).items()})
    return found


def test_a_throttled_request_counts_each_attempt_its_429_and_its_waits(
    otel: Recorded, clock: FakeClock
) -> None:
    with run_emulator(2, [SMALL, BIG], clock=clock) as emu:
        client = balanced_openai_client(balancer=throttling_pair(emu, clock))
        ask(client)  # 01 serves
        ask(client)  # 01 answers 429, 02 serves
        ports = [port(emu, 0), port(emu, 1)]

        recorded = otel.metrics()

    assert values(recorded["aoai_fallbacks.attempts"], ports, "aoai_fallbacks.outcome") == {
        ("01", "success"): 1,
        ("01", "throttled"): 1,
        ("02", "success"): 1,
    }
    assert values(recorded["aoai_fallbacks.throttles"], ports) == {("01",): 1}
    waits = {
        k: (p.count, p.sum)
        for one in ports
        for k, p in by_backend(recorded["aoai_fallbacks.wait.duration"], one).items()
    }
    assert waits == {("01",): (2, 0.0), ("02",): (1, 0.0)}  # no attempt waited
    # The gauges, read when the metrics are collected: 01 cools down for its Retry-After.
    assert values(recorded["aoai_fallbacks.backends.unavailable"], ports, STATE) == {
        ("01", "cooling"): 1,
        ("02", "available"): 0,
    }
    assert values(recorded["aoai_fallbacks.requests.in_flight"], ports) == {("01",): 0, ("02",): 0}
    clock.advance(10.0)
    assert values(otel.metrics()["aoai_fallbacks.backends.unavailable"], ports, STATE) == {
        ("01", "available"): 0,
        ("02", "available"): 0,
    }


def test_the_gauges_count_requests_in_flight_and_in_line(otel: Recorded, clock: FakeClock) -> None:
    with run_emulator(1, [BIG], clock=clock) as emu:
        balancer = Balancer(backends_of(emu), clock=clock)
        balanced_openai_client(balancer=balancer)  # its transport: the balancer is observed
        (backend,) = balancer.backends
        (before,) = otel.metrics()["aoai_fallbacks.requests.waiting"]

        assert balancer.select(ticket=Ticket()) is backend  # no verdict yet: in flight
        recorded = otel.metrics()
        assert values(recorded["aoai_fallbacks.requests.in_flight"], [port(emu, 0)]) == {
            ("01",): 1
        }
        assert recorded["aoai_fallbacks.requests.waiting"][0].value == before.value

        balancer.record(backend, classify_failure("timeout", retry_after=5.0))  # cools it
        waiter = Ticket()
        assert isinstance(balancer.select(ticket=waiter), Wait)  # in line until it recovers
        recorded = otel.metrics()
        assert values(recorded["aoai_fallbacks.requests.in_flight"], [port(emu, 0)]) == {
            ("01",): 0
        }
        assert recorded["aoai_fallbacks.requests.waiting"][0].value == before.value + 1
        balancer.leave(waiter)
        assert otel.metrics()["aoai_fallbacks.requests.waiting"][0].value == before.value
