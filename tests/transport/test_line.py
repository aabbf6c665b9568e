"""Requests that must wait are answered in the order they began to wait.

One deployment admits two requests per 10 s window; it is full when six
requests arrive one after another. Each waits in line for the slot it is
owed, so they are answered first come first served, however the event loop
happens to wake them, never faster than the window allows, and a request
refused after its turn (asked whether the window is 1 s) keeps its place.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from aoai_fallbacks import Balancer, balanced_openai_client
from aoai_fallbacks.emulator import DeploymentConfig, run_emulator
from aoai_fallbacks.testing import FakeClock

from ._support import PROMPT, ask, backends_of

pytestmark = pytest.mark.integration

TWO_PER_WINDOW = DeploymentConfig("gpt-35-turbo", tpm=100_000, rpm=12)


def test_waiting_requests_are_answered_first_come_first_served(clock: FakeClock) -> None:
    with run_emulator(1, [TWO_PER_WINDOW], clock=clock) as emu:
        balancer = Balancer(backends_of(emu), clock=clock, wait_budget=60.0, rng=random.Random(5))
        sync_client = balanced_openai_client(balancer=balancer)
        ask(sync_client)
        ask(sync_client)  # its answer says the window is full
        client = balanced_openai_client(balancer=balancer, async_=True)
        answered: list[tuple[int, float]] = []

        async def one(index: int) -> None:
            with clock.busy():
                await client.chat.completions.create(
                    model="ignored", messages=PROMPT, max_tokens=20
                )
                answered.append((index, clock.monotonic()))

        async def main() -> None:
            tasks = []
            for index in range(6):
                tasks.append(asyncio.create_task(one(index)))
                await asyncio.sleep(0.01)  # real time: each is in line before the next comes
            await asyncio.gather(*tasks)

        started = clock.monotonic()
        asyncio.run(main())
        stats = emu.stats("gpt-35-turbo")
    assert [index for index, _ in answered] == list(range(6))
    # From the first slot that frees on, at most two in any 10 s (at once, or one every
    # 5 s once a line has formed: the pace the window refills at), all within 3 windows.
    times = [at - started for _, at in answered]
    assert times[0] >= 10.0
    assert all(
        later - earlier >= 10.0 for earlier, later in zip(times, times[2:], strict=False)
    ), times
    assert times[-1] <= 35.5, times
    assert stats.throttled <= 1  # at most the one question whether the window is 1 s
