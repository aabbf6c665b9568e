"""Every request's loop ends (issue 10, item 3): a cap on attempts, and a spent wait budget.

A gateway that refuses every request with ``retry-after: 0``, under
``min_cooldown=0``, hands the backend straight back to the request it just
refused: one request sent more than 500 attempts without a pause. On a fake
clock nothing else would ever end it.
"""

from __future__ import annotations

from typing import Any

import pytest

from aoai_fallbacks import Balancer, NoBackendAvailableError, balanced_openai_client
from aoai_fallbacks.balancer import MIN_ATTEMPTS
from aoai_fallbacks.emulator import DeploymentConfig, Emulator, run_emulator
from aoai_fallbacks.testing import FakeClock

from ._support import ask, backends_of

pytestmark = pytest.mark.integration

GPT = DeploymentConfig("gpt-35-turbo", tpm=1_000_000)


def refusing(emu: Emulator, *names: str) -> None:
    """Put a gateway saying "429, retry at once" in front of the named backends."""
    for resource in emu.resources:
        if resource.name in names:
            resource.set_faults("gpt-35-turbo", gateway_429=0.0)


def refusal(emu: Emulator, **options: Any) -> NoBackendAvailableError:
    balancer = Balancer(backends_of(emu), min_cooldown=0, **options)
    with pytest.raises(NoBackendAvailableError) as caught:
        ask(balanced_openai_client(balancer=balancer))
    return caught.value


def test_a_request_makes_at_most_max_attempts(clock: FakeClock) -> None:
    with run_emulator(1, [GPT], clock=clock) as emu:
        refusing(emu, "01")
        error = refusal(emu, clock=clock, max_attempts=5)
        assert [(a.backend, a.outcome, a.status) for a in error.attempts] == [
            ("01", "throttled", 429)
        ] * 5
        assert "max_attempts=5" in str(error)
        assert error.retry_after is None
        assert emu.stats("gpt-35-turbo").requests == 5


def test_the_default_cap_is_three_attempts_per_backend_and_at_least_ten(
    clock: FakeClock,
) -> None:
    with run_emulator(4, [GPT], clock=clock) as emu:
        refusing(emu, "01", "02", "03", "04")
        assert len(refusal(emu, clock=clock).attempts) == 12
        assert Balancer(backends_of(emu)[:2]).max_attempts == MIN_ATTEMPTS


def test_a_spent_wait_budget_tries_each_backend_once_more_at_most(clock: FakeClock) -> None:
    with run_emulator(2, [GPT], clock=clock) as emu:
        refusing(emu, "01", "02")
        error = refusal(emu, clock=clock, wait_budget=0, max_attempts=100)
        assert sorted(a.backend for a in error.attempts) == ["01", "02"]
        assert "the wait budget of 0 s is spent" in str(error)
        assert error.retry_after == 0.0


def test_a_spent_wait_budget_still_fails_over_to_a_backend_not_tried(clock: FakeClock) -> None:
    with run_emulator(2, [GPT], clock=clock) as emu:
        refusing(emu, "01")
        balancer = Balancer(
            backends_of(emu, AOAI_PRIORITY_02="2"), clock=clock, min_cooldown=0, wait_budget=0
        )
        assert ask(balanced_openai_client(balancer=balancer)) == "02"
        assert emu.stats("gpt-35-turbo").requests == 2
