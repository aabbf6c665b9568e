"""`balanced_chat_model()` is a real `AzureChatOpenAI`: every LangChain feature works through it."""

from __future__ import annotations

import asyncio
import random

import openai
import pytest
from langchain_core.messages import AIMessage
from langchain_openai import AzureChatOpenAI
from pydantic import BaseModel

from aoai_fallbacks import (
    Balancer,
    NoBackendAvailableError,
    StreamInterruptedError,
    balanced_chat_model,
)
from aoai_fallbacks.emulator import CONTENT_FILTER_TRIGGER, DeploymentConfig, run_emulator
from aoai_fallbacks.testing import FakeClock
from aoai_fallbacks.transport import BACKEND_HEADER

from ._support import backends_of

pytestmark = pytest.mark.integration

GPT = DeploymentConfig("gpt-35-turbo", tpm=1_000_000)


class Joke(BaseModel):
    setup: str
    punchline: str


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def test_invoke_stream_and_batch_fail_over_behind_a_real_azure_chat_openai(
    clock: FakeClock,
) -> None:
    with run_emulator(2, [GPT], clock=clock) as emu:
        emu.resources[0].set_faults("gpt-35-turbo", outage=True)
        balancer = Balancer(backends_of(emu, AOAI_PRIORITY_02="2"), clock=clock)
        model = balanced_chat_model(
            balancer=balancer, max_tokens=20, include_response_headers=True
        )
        assert isinstance(model, AzureChatOpenAI)
        assert model.max_retries == 0

        answer = model.invoke("Tell me a joke")
        assert isinstance(answer, AIMessage)
        assert answer.content
        assert answer.response_metadata["headers"][BACKEND_HEADER] == "02"
        assert answer.usage_metadata is not None

        streamed = "".join(str(chunk.content) for chunk in model.stream("Tell me a joke"))
        assert streamed

        answers = model.batch(
            [f"Joke number {i}" for i in range(8)], config={"max_concurrency": 4}
        )
        assert all(isinstance(a, AIMessage) and a.content for a in answers)
        assert emu.resources[1].stats("gpt-35-turbo").served == 10


def test_async_invoke_and_abatch(clock: FakeClock) -> None:
    async def scenario(model: AzureChatOpenAI) -> list[AIMessage]:
        first = await model.ainvoke("Tell me a joke")
        rest = await model.abatch([f"Joke {i}" for i in range(6)])
        return [first, *rest]

    with run_emulator(3, [GPT], clock=clock) as emu:
        model = balanced_chat_model(
            balancer=Balancer(backends_of(emu), clock=clock), max_tokens=20
        )
        answers = asyncio.run(scenario(model))
        assert len(answers) == 7
        assert all(a.content for a in answers)
        assert emu.stats("gpt-35-turbo").served == 7


def test_bind_tools_and_structured_output(clock: FakeClock) -> None:
    with run_emulator(2, [GPT], clock=clock) as emu:
        model = balanced_chat_model(balancer=Balancer(backends_of(emu), clock=clock))
        call = model.bind_tools([get_weather], tool_choice="get_weather").invoke(
            "What is the weather in Paris?"
        )
        assert call.tool_calls[0]["name"] == "get_weather"
        assert isinstance(call.tool_calls[0]["args"]["city"], str)

        joke = model.with_structured_output(Joke).invoke("Tell me a joke")
        assert isinstance(joke, Joke)
        assert emu.stats("gpt-35-turbo").served == 2


def test_what_a_langchain_user_catches_when_every_backend_is_busy(clock: FakeClock) -> None:
    small = DeploymentConfig("gpt-35-turbo", tpm=1_000, remaining_headers="off")  # one a 10 s
    with run_emulator(2, [small], clock=clock) as emu:
        balancer = Balancer(backends_of(emu), clock=clock, wait_budget=0, rng=random.Random(1))
        model = balanced_chat_model(balancer=balancer, max_tokens=20)
        model.invoke("one")
        model.invoke("two")
        with pytest.raises(openai.RateLimitError) as caught:
            model.invoke("three")
        error = caught.value
        assert error.response.headers["retry-after"] == "11"  # what any 429 handler reads
        assert [a["outcome"] for a in error.body["error"]["attempts"]] == ["throttled"] * 2
        ours = NoBackendAvailableError.find(error)
        assert ours is not None
        assert ours.retry_after == pytest.approx(10.05)  # a 10 s window, a hair for the wire
        assert [a.outcome for a in ours.attempts] == ["throttled", "throttled"]


def test_a_content_filter_reaches_a_langchain_user_as_a_bad_request(clock: FakeClock) -> None:
    with run_emulator(2, [GPT], clock=clock) as emu:
        model = balanced_chat_model(balancer=Balancer(backends_of(emu), clock=clock))
        with pytest.raises(openai.BadRequestError) as caught:
            model.invoke(f"Please say {CONTENT_FILTER_TRIGGER}")
        assert caught.value.code == "content_filter"
        assert emu.stats("gpt-35-turbo").requests == 1


def test_a_stream_cut_reaches_a_langchain_user_as_a_connection_error(clock: FakeClock) -> None:
    with run_emulator(2, [GPT], clock=clock) as emu:
        emu.resources[0].set_faults("gpt-35-turbo", drop_after_chunks=3)
        balancer = Balancer(backends_of(emu, AOAI_PRIORITY_02="2"), clock=clock)
        model = balanced_chat_model(balancer=balancer, max_tokens=30)
        received: list[object] = []
        with pytest.raises(openai.APIConnectionError) as caught:
            received.extend(model.stream("Tell me a joke"))
        assert received  # it had started: no silent retry elsewhere
        cut = StreamInterruptedError.find(caught.value)
        assert cut is not None
        assert cut.backend == "01"
        assert emu.resources[1].stats("gpt-35-turbo").requests == 0
        assert balancer.snapshot()[0].state == "cooling"
