"""The thundering herd: a crowd waiting on throttled backends must not wake up into a pile of 429s.

Every backend is full when 50 requests arrive together, and each admits one
request per 10 s window. Before the gate, each cooldown's end woke the whole
crowd at once, one request got the freed slot and every other one got a 429.
Then one request probed a recovering backend while the rest waited: about one
429 per backend per window. Now the balancer knows each window (the answers'
remaining counts and its own requests in it) and sends each request when a
slot frees: the crowd is served at the quota's pace without a single 429.
"""

from __future__ import annotations

import math
import random

import pytest

from aoai_fallbacks import Balancer, balanced_openai_client
from aoai_fallbacks.emulator import DeploymentConfig, Faults, run_emulator
from aoai_fallbacks.testing import FakeClock

from ._support import ask, backends_of, crowd

pytestmark = pytest.mark.integration

# 1,000 TPM: Azure's 6 RPM, one request per 10 s window on each backend.
SMALL = DeploymentConfig("gpt-35-turbo", tpm=1_000)
WINDOW = 10.0
CROWD = 50


@pytest.mark.parametrize("latency", [0.0, 0.02], ids=["fast machine", "slow machine"])
def test_a_waiting_crowd_is_served_at_the_quotas_pace_without_a_429(
    clock: FakeClock, latency: float
) -> None:
    # `latency` is real time each answer takes: a slow or busy machine. Time on
    # the clock stands still while a request is on the wire, so it changes nothing.
    with run_emulator(3, [SMALL], clock=clock, faults=Faults(latency=latency)) as emu:
        balancer = Balancer(
            backends_of(emu), clock=clock, wait_budget=math.inf, rng=random.Random(7)
        )
        sync_client = balanced_openai_client(balancer=balancer)
        assert {ask(sync_client) for _ in range(3)} == {"01", "02", "03"}  # every window used
        started = clock.monotonic()
        client = balanced_openai_client(balancer=balancer, async_=True)
        outcomes = crowd(client, CROWD, clock)
        elapsed = clock.monotonic() - started
        stats = emu.stats("gpt-35-turbo")
    assert outcomes.count("ok") == CROWD  # an unlimited budget: every request answered
    assert stats.served == CROWD + 3  # none answered twice, none lost
    assert stats.requests == stats.served + stats.throttled
    # Served at the pace the quota allows: 3 a window, the last in the 17th (each
    # slot taken a hair after it frees, 0.5% of the window, as a margin for the wire).
    assert elapsed == pytest.approx(math.ceil(CROWD / 3) * WINDOW, rel=0.01)
    assert stats.throttled <= 3  # one per backend, asked once whether its window is 1 s


def test_a_crowd_with_a_short_budget_ends_in_answers_or_clear_errors(clock: FakeClock) -> None:
    with run_emulator(3, [SMALL], clock=clock) as emu:
        balancer = Balancer(backends_of(emu), clock=clock, wait_budget=25.0, rng=random.Random(7))
        sync_client = balanced_openai_client(balancer=balancer)
        for _ in range(3):
            ask(sync_client)
        client = balanced_openai_client(balancer=balancer, async_=True)
        outcomes = crowd(client, CROWD, clock)
        stats = emu.stats("gpt-35-turbo")
    answered = outcomes.count("ok")
    assert answered + outcomes.count("busy") == CROWD  # none lost, none hung
    assert stats.served == answered + 3
    assert answered >= 3  # the windows that opened within the budget were used
