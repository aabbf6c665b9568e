"""The caller's timeout is kept, and a slow backend is not a failing one (issue 10, item 4).

Long non-streamed generations (reasoning models, a large ``max_tokens``) send
nothing until they are done. Cutting them at the balancer's own 60 s, and
counting each cut toward the circuit, opened circuits on healthy deployments.
These tests use real, short latencies: the emulator's `latency` fault is the
model's time, spent on the wall clock.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from aoai_fallbacks import Balancer, balanced_openai_client
from aoai_fallbacks.emulator import (
    CONTENT_FILTER_TRIGGER,
    DeploymentConfig,
    Emulator,
    run_emulator,
)
from aoai_fallbacks.testing import FakeClock

from ._support import ask, backends_of

pytestmark = pytest.mark.integration

GPT = DeploymentConfig("gpt-35-turbo", tpm=1_000_000)


def slow_first(emu: Emulator, clock: FakeClock, seconds: float) -> Balancer:
    """01 takes `seconds` per answer; the balancer's own limit is shorter; 02 is the fallback."""
    emu.resources[0].set_faults("gpt-35-turbo", latency=seconds)
    return Balancer(
        backends_of(emu, AOAI_PRIORITY_02="2"),
        clock=clock,
        attempt_timeout=0.2,
        failure_threshold=1,
    )


def test_a_longer_timeout_of_the_callers_own_is_kept(clock: FakeClock) -> None:
    with run_emulator(2, [GPT], clock=clock) as emu:
        balancer = slow_first(emu, clock, 0.6)
        client = balanced_openai_client(balancer=balancer, timeout=5.0)
        assert ask(client) == "01"  # it used to be cut at attempt_timeout and go to 02
        status = balancer.snapshot()[0]
        assert (status.state, status.served, status.failed) == ("available", 1, 0)


def test_a_timeout_on_a_backend_that_answers_others_meanwhile_does_not_open_its_circuit(
    clock: FakeClock,
) -> None:
    with run_emulator(2, [GPT], clock=clock) as emu:
        balancer = slow_first(emu, clock, 1.0)
        client = balanced_openai_client(balancer=balancer, timeout=None)
        first = emu.resources[0].deployments["gpt-35-turbo"].quota
        admitted = first.remaining()
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(ask, client)  # a long generation on 01, past attempt_timeout
            while first.remaining() == admitted:  # until 01 has it
                time.sleep(0.001)
            with pytest.raises(openai.BadRequestError):  # 01 answers this one at once
                ask(client, f"Please say {CONTENT_FILTER_TRIGGER}")
            assert slow.result() == "02"  # timed out on 01, answered by 02
        status = balancer.snapshot()[0]
        assert (status.state, status.failed) == ("available", 1)  # one failure would open it
        emu.resources[0].set_faults("gpt-35-turbo", latency=0.0)
        assert ask(client) == "01"
