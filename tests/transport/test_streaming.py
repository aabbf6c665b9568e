"""Streaming fails over before the first byte, and never after it."""

from __future__ import annotations

import asyncio

import openai
import pytest

from aoai_fallbacks import Balancer, StreamInterruptedError, balanced_openai_client
from aoai_fallbacks.emulator import DeploymentConfig, Emulator, run_emulator
from aoai_fallbacks.testing import FakeClock
from aoai_fallbacks.transport import BACKEND_HEADER

from ._support import PROMPT, backends_of

pytestmark = pytest.mark.integration

GPT = DeploymentConfig("gpt-35-turbo", tpm=1_000_000)


def stream_text(client: openai.AzureOpenAI) -> tuple[str, str]:
    """Stream one answer; return (backend, text)."""
    with client.chat.completions.with_streaming_response.create(
        model="ignored", messages=PROMPT, max_tokens=30, stream=True
    ) as raw:
        backend = raw.headers[BACKEND_HEADER]
        text = "".join(
            chunk.choices[0].delta.content or "" for chunk in raw.parse() if chunk.choices
        )
    return backend, text


def test_a_stream_that_breaks_before_its_first_byte_fails_over(clock: FakeClock) -> None:
    with run_emulator(2, [GPT], clock=clock) as emu:
        emu.resources[0].set_faults("gpt-35-turbo", drop_after_chunks=0)
        balancer = Balancer(backends_of(emu, AOAI_PRIORITY_02="2"), clock=clock)
        backend, text = stream_text(balanced_openai_client(balancer=balancer))
        assert backend == "02"
        assert text
        assert emu.resources[0].stats("gpt-35-turbo").failed == 1
        assert balancer.snapshot()[0].failed == 1


def test_a_stream_cut_mid_way_raises_names_the_backend_and_cools_it(clock: FakeClock) -> None:
    with run_emulator(2, [GPT], clock=clock) as emu:
        emu.resources[0].set_faults("gpt-35-turbo", drop_after_chunks=2)
        balancer = Balancer(backends_of(emu, AOAI_PRIORITY_02="2"), clock=clock)
        client = balanced_openai_client(balancer=balancer)
        with pytest.raises(StreamInterruptedError, match=r"backend 01 \(gpt-35-turbo\)") as caught:
            stream_text(client)
        assert caught.value.backend == "01"
        assert emu.resources[1].stats("gpt-35-turbo").requests == 0  # never silently retried
        status = balancer.snapshot()[0]
        assert status.state == "cooling"
        # One request, one verdict: it used to count as served (its first chunk) and failed.
        assert (status.served, status.failed) == (0, 1)
        assert stream_text(client)[0] == "02"  # the next request avoids it


def test_async_streams_fail_over_before_the_first_byte_too(clock: FakeClock) -> None:
    async def first_stream(client: openai.AsyncAzureOpenAI) -> tuple[str, int]:
        async with client.chat.completions.with_streaming_response.create(
            model="ignored", messages=PROMPT, max_tokens=30, stream=True
        ) as raw:
            chunks = [chunk async for chunk in await raw.parse()]
            return raw.headers[BACKEND_HEADER], len(chunks)

    async def scenario(emu: Emulator, client: openai.AsyncAzureOpenAI) -> None:
        backend, chunks = await first_stream(client)
        assert backend == "02"
        assert chunks > 1
        emu.resources[1].set_faults("gpt-35-turbo", drop_after_chunks=2)
        with pytest.raises(StreamInterruptedError, match="backend 02"):
            await first_stream(client)

    with run_emulator(2, [GPT], clock=clock) as emu:
        emu.resources[0].set_faults("gpt-35-turbo", drop_after_chunks=0)
        balancer = Balancer(backends_of(emu, AOAI_PRIORITY_02="2"), clock=clock)
        asyncio.run(scenario(emu, balanced_openai_client(balancer=balancer, async_=True)))
