"""Every slot of quota used, on every dialect of Azure the emulator speaks, without 429s.

Eight workers in a closed loop (each sends its next request as soon as its
last is answered, as batch jobs and agents do) against three deployments
that admit 10 requests per window each, on the simulated clock: answers
take no time, so the requests arrive as fast as the windows free and the
balancer alone decides when each is sent. Whatever the backends say about
their quota (exact or whole-second Retry-After, none at all, remaining
counts or not, 10 s or 1 s windows), the balancer learns each window from its
own requests and what came back, and sends each request when a slot frees.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any

import pytest

from aoai_fallbacks import Balancer, NoBackendAvailableError, balanced_openai_client
from aoai_fallbacks.emulator import DeploymentConfig, run_emulator
from aoai_fallbacks.testing import FakeClock

from ._support import PROMPT, backends_of

pytestmark = pytest.mark.integration

WORKERS = 8
REQUESTS = 150
PER_WINDOW = 10

DIALECTS: dict[str, dict[str, Any]] = {
    "ms": {},
    "seconds": {"retry_after": "seconds", "reset_headers": True},
    "seconds-only": {"retry_after": "seconds"},
    "none": {"retry_after": "none"},
    "unknown": {"remaining_headers": "unknown"},
    "off": {"remaining_headers": "off", "retry_after": "seconds"},
    "1s-window": {"request_window": 1.0},
}


@dataclass
class Run:
    answered: int
    errors: int
    requests: int
    throttled: int
    elapsed: float
    waits: list[float]


def closed_loop(clock: FakeClock, dialect: dict[str, Any]) -> Run:
    window = dialect.get("request_window", 10.0)
    rpm = round(PER_WINDOW * 60 / window)
    config = DeploymentConfig("gpt-35-turbo", tpm=100_000_000, rpm=rpm, **dialect)
    with run_emulator(3, [config], clock=clock) as emu:
        balancer = Balancer(backends_of(emu), clock=clock, wait_budget=120.0, rng=random.Random(3))
        client = balanced_openai_client(balancer=balancer, async_=True)
        left = [REQUESTS]
        waits: list[float] = []
        errors = 0

        async def worker() -> None:
            nonlocal errors
            while left[0] > 0:
                left[0] -= 1
                with clock.busy():
                    sent = clock.monotonic()
                    try:
                        await client.chat.completions.create(
                            model="ignored", messages=PROMPT, max_tokens=20
                        )
                    except NoBackendAvailableError:
                        errors += 1
                    waits.append(clock.monotonic() - sent)

        async def main() -> float:
            started = clock.monotonic()
            await asyncio.gather(*(worker() for _ in range(WORKERS)))
            return clock.monotonic() - started

        elapsed = asyncio.run(main())
        stats = emu.stats("gpt-35-turbo")
    return Run(stats.served, errors, stats.requests, stats.throttled, elapsed, waits)


@pytest.mark.parametrize("dialect", list(DIALECTS), ids=list(DIALECTS))
def test_a_closed_loop_uses_every_slot_with_almost_no_429(dialect: str) -> None:
    options = DIALECTS[dialect]
    run = closed_loop(FakeClock(), options)
    window = options.get("request_window", 10.0)
    assert run.errors == 0
    assert run.answered == REQUESTS
    # Every slot used: the first 3 x 10 go at once, then each window's 3 x 10 at the pace
    # the windows refill (a hair, 0.5%, after each slot frees), while the rest wait in line.
    per_window = 3 * PER_WINDOW
    ideal = window + (REQUESTS - per_window) / per_window * window
    told = options.get("remaining_headers", "exact") == "exact"
    # Where no remaining counts come, the size of a window is learned from refusals
    # alone, sometimes a request short: up to a fifth slower then (seen: 1 run in 8).
    assert run.elapsed <= ideal * (1.01 if told else 1.25), (run.elapsed, ideal)
    # Learning costs a few 429s, early: one per backend to tell a 10 s window from a
    # 1 s one (and at most one more each while its first readings settle), and where
    # answers carry no remaining counts, on each backend what was in flight to it when
    # its first refusal told its window's size.
    assert run.throttled <= (6 if told else 6 + 3 * WORKERS), run.throttled
    # Fair: once the first window is spent, everyone waits about as long as a fair queue
    # in front of these backends would have them wait (workers / capacity per second).
    fair = WORKERS / (per_window / window)
    settled = sorted(run.waits[per_window + WORKERS :])
    # (Where the window is learned from refusals alone, it may be thought a request
    # smaller than it is, and the pace that much slower.)
    assert settled[int(len(settled) * 0.95)] <= fair * (1.3 if told else 1.75), settled
    assert max(run.waits) <= window * 1.01 + fair, run.waits  # nobody starves
