"""Every backend throttled: wait within the budget, else `NoBackendAvailableError`."""

from __future__ import annotations

import logging

import openai
import pytest

from aoai_fallbacks import Balancer, NoBackendAvailableError, balanced_openai_client
from aoai_fallbacks.emulator import DeploymentConfig, run_emulator
from aoai_fallbacks.testing import FakeClock

from ._support import ask, backends_of

pytestmark = pytest.mark.integration

# One request per 10 s window on each backend.
SMALL = DeploymentConfig("gpt-35-turbo", tpm=1_000)


def test_waits_for_the_first_recovery_within_the_budget(clock: FakeClock) -> None:
    with run_emulator(2, [SMALL], clock=clock) as emu:
        balancer = Balancer(backends_of(emu), clock=clock, wait_budget=30.0)
        client = balanced_openai_client(balancer=balancer)
        assert {ask(client), ask(client)} == {"01", "02"}
        clock.advance(4.0)
        # Both full: each is asked once whether its window is 1 s (a 429, 6 s left), then
        # one wait until the first request leaves its window (a hair after), then an answer.
        assert ask(client) in {"01", "02"}
        assert clock.slept == [pytest.approx(6.05)]
        stats = emu.stats("gpt-35-turbo")
        assert (stats.served, stats.throttled) == (3, 2)


@pytest.mark.parametrize("budget", [0.0, 5.0])
def test_beyond_the_budget_raises_with_retry_after_and_every_attempt(
    clock: FakeClock, budget: float, caplog: pytest.LogCaptureFixture
) -> None:
    with run_emulator(2, [SMALL], clock=clock) as emu:
        balancer = Balancer(backends_of(emu), clock=clock, wait_budget=budget)
        client = balanced_openai_client(balancer=balancer)
        ask(client)
        ask(client)
        clock.advance(2.0)
        with pytest.raises(NoBackendAvailableError) as caught:
            ask(client)
        error = caught.value
        assert isinstance(error, openai.RateLimitError)
        assert error.retry_after == pytest.approx(8.05)
        assert sorted((a.backend, a.outcome, a.status) for a in error.attempts) == [
            ("01", "throttled", 429),
            ("02", "throttled", 429),
        ]
        assert error.response.headers["retry-after"] == "9"
        assert error.response.headers["retry-after-ms"] == "8050"
        assert clock.slept == []
        assert emu.stats("gpt-35-turbo").requests == 4
        assert any(r.levelno == logging.ERROR for r in caplog.records)


def test_when_nothing_is_usable_no_backend_is_even_asked(clock: FakeClock) -> None:
    with run_emulator(2, [SMALL], clock=clock) as emu:
        balancer = Balancer(backends_of(emu), clock=clock, wait_budget=1.0)
        client = balanced_openai_client(balancer=balancer)
        ask(client)
        ask(client)  # each answer said its window is full: its first slot frees in 10 s
        for _ in range(2):
            with pytest.raises(NoBackendAvailableError) as caught:
                ask(client)  # both are full: fail fast without a round trip
            assert caught.value.attempts == ()
            assert caught.value.retry_after == pytest.approx(10.05)
        assert emu.stats("gpt-35-turbo").requests == 2
