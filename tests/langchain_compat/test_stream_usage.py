"""A streamed answer carries `usage_metadata`, as it does from a plain `AzureChatOpenAI`.

langchain-openai asks Azure for the usage of a stream (``stream_options``)
only when it built its own HTTP clients; the balancer brings its own, so its
models must ask themselves (issue 10, item 7).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, BaseMessageChunk
from langchain_openai import AzureChatOpenAI

from aoai_fallbacks import balanced_chat_model, fallback_chain, load_backends
from aoai_fallbacks.emulator import Emulator
from aoai_fallbacks.testing import FakeClock

from ._support import DEPLOYMENT, balancer_of

pytestmark = pytest.mark.integration


def _whole(chunks: Iterable[BaseMessageChunk]) -> AIMessageChunk:
    whole = None
    for chunk in chunks:
        assert isinstance(chunk, AIMessageChunk)
        whole = chunk if whole is None else whole + chunk
    assert whole is not None
    return whole


def _plain(emulator: Emulator) -> AzureChatOpenAI:
    resource = emulator.resources[0]
    return AzureChatOpenAI(
        azure_endpoint=resource.endpoint,
        api_key=resource.key,  # type: ignore[arg-type]
        api_version="2024-10-21",
        azure_deployment=DEPLOYMENT,
        max_retries=0,
    )


def test_a_balanced_model_streams_usage_as_a_plain_one_does(
    emulator: Emulator, clock: FakeClock
) -> None:
    balanced = balanced_chat_model(balancer=balancer_of(emulator, clock), temperature=0)
    plain = _plain(emulator)
    asked = plain.invoke("Tell me a joke", temperature=0)

    for model in (plain, balanced):
        usage = _whole(model.stream("Tell me a joke")).usage_metadata
        assert usage is not None, type(model).__name__
        assert usage["input_tokens"] == asked.usage_metadata["input_tokens"]  # type: ignore[index]
        assert usage["output_tokens"] > 0
    assert balanced.stream_usage is plain.stream_usage is True


def test_an_async_stream_carries_usage_too(emulator: Emulator, clock: FakeClock) -> None:
    balanced = balanced_chat_model(balancer=balancer_of(emulator, clock))

    async def stream() -> list[BaseMessageChunk]:
        chunks: AsyncIterator[BaseMessageChunk] = balanced.astream("Tell me a joke")
        return [chunk async for chunk in chunks]

    assert _whole(asyncio.run(stream())).usage_metadata is not None


def test_a_caller_may_still_turn_it_off(emulator: Emulator, clock: FakeClock) -> None:
    model = balanced_chat_model(balancer=balancer_of(emulator, clock), stream_usage=False)

    assert _whole(model.stream("Tell me a joke")).usage_metadata is None


def test_the_recipe_streams_usage_too(emulator: Emulator) -> None:
    chain = fallback_chain(load_backends(emulator.env(), dotenv=False))
    models: list[BaseChatModel] = list(chain.runnables)  # type: ignore[attr-defined]

    assert all(isinstance(m, AzureChatOpenAI) and m.stream_usage for m in models)
    assert _whole(chain.stream("Tell me a joke")).usage_metadata is not None
