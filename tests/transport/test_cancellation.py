"""A cancelled request gives its half-open probe back at once."""

from __future__ import annotations

import asyncio

import openai
import pytest

from aoai_fallbacks import Balancer, balanced_openai_client
from aoai_fallbacks.emulator import DeploymentConfig, Resource, run_emulator
from aoai_fallbacks.testing import FakeClock
from aoai_fallbacks.transport import BACKEND_HEADER

from ._support import PROMPT, backends_of

pytestmark = pytest.mark.integration

GPT = DeploymentConfig("gpt-35-turbo", tpm=1_000_000)


async def served_by(client: openai.AsyncAzureOpenAI) -> str:
    raw = await client.chat.completions.with_raw_response.create(
        model="ignored", messages=PROMPT, max_tokens=20
    )
    return raw.headers[BACKEND_HEADER]


async def until_asked(resource: Resource, requests: int) -> None:
    while resource.stats("gpt-35-turbo").requests < requests:
        await asyncio.sleep(0.01)


def test_a_cancelled_probe_frees_the_backend_for_the_next_request(clock: FakeClock) -> None:
    async def scenario(first: Resource, client: openai.AsyncAzureOpenAI) -> list[str]:
        answered = [await served_by(client)]  # 01 fails: circuit open, 02 answers
        clock.advance(10.0)  # half-open: the next request to 01 is its probe
        first.set_faults("gpt-35-turbo", outage=False, hang=True)
        probe = asyncio.create_task(served_by(client))
        await asyncio.wait_for(until_asked(first, 2), timeout=10)
        probe.cancel()  # e.g. the user gave up: no verdict for 01
        await asyncio.gather(probe, return_exceptions=True)
        first.set_faults("gpt-35-turbo", hang=False)
        answered.append(await served_by(client))  # 01 may be probed again at once
        return answered

    with run_emulator(2, [GPT], clock=clock) as emu:
        emu.resources[0].set_faults("gpt-35-turbo", outage=True)
        balancer = Balancer(
            backends_of(emu, AOAI_PRIORITY_02="2"),
            clock=clock,
            failure_threshold=1,
            circuit_open_for=10.0,
        )
        client = balanced_openai_client(balancer=balancer, async_=True)
        assert asyncio.run(scenario(emu.resources[0], client)) == ["02", "01"]
        assert balancer.snapshot()[0].state == "available"
