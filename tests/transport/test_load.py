"""500 concurrent async requests against 3 throttled backends: every one accounted for."""

from __future__ import annotations

import pytest

from aoai_fallbacks import Balancer, balanced_openai_client
from aoai_fallbacks.emulator import DeploymentConfig, run_emulator
from aoai_fallbacks.testing import FakeClock

from ._support import backends_of, crowd

pytestmark = pytest.mark.integration

# 600 RPM: 100 requests per 10 s window on each of 3 backends, 300 at once in all.
DEPLOYMENT = DeploymentConfig("gpt-35-turbo", tpm=100_000)
REQUESTS = 500


@pytest.mark.parametrize("wait_budget", [0.0, 30.0], ids=["fail-fast", "wait"])
def test_every_request_ends_as_an_answer_or_a_clear_error(
    clock: FakeClock, wait_budget: float
) -> None:
    with run_emulator(3, [DEPLOYMENT], clock=clock) as emu:
        balancer = Balancer(backends_of(emu), clock=clock, wait_budget=wait_budget)
        client = balanced_openai_client(balancer=balancer, async_=True)
        outcomes = crowd(client, REQUESTS, clock)
        stats = emu.stats("gpt-35-turbo")
    answered = outcomes.count("ok")
    assert answered + outcomes.count("busy") == REQUESTS  # none lost
    assert stats.served == answered  # none answered twice, none answered unseen
    assert stats.requests == stats.served + stats.throttled  # nothing failed or was rejected
    assert stats.throttled > 0  # the backends really were throttled
    if wait_budget == 0:
        assert answered == 300  # every window used to the last request, then fail fast
        assert clock.slept == []
    else:
        assert answered > 300  # waiting on the shared clock let the windows refill
    assert sum(s.served for s in balancer.snapshot()) == answered
