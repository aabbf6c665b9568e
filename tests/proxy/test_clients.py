"""Real clients pointed at the proxy: the openai SDK (classic and v1 paths) and LangChain.

None of them knows it talks to more than one resource: each holds one
endpoint and the proxy's key, and names the configured deployment.
"""

from __future__ import annotations

import asyncio
import json

import openai
import pytest
from langchain_openai import AzureChatOpenAI
from pydantic import BaseModel

from aoai_fallbacks.transport import BACKEND_HEADER

from ._support import API_VERSION, CHAT, EMBEDDING, KEY, MESSAGES, Running, running_proxy

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def proxy() -> Running:
    with running_proxy() as running:
        yield running


class Joke(BaseModel):
    setup: str
    punchline: str


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def test_chat_completions_are_spread_and_name_the_backend(proxy: Running) -> None:
    client = proxy.client()
    answered = set()
    for _ in range(12):
        raw = client.chat.completions.with_raw_response.create(model=CHAT, messages=MESSAGES)
        assert raw.parse().choices[0].message.content
        answered.add(raw.headers[BACKEND_HEADER])
    assert answered == {"01", "02"}


def test_a_stream_arrives_chunk_by_chunk_and_whole(proxy: Running) -> None:
    client = proxy.client()
    direct = openai.AzureOpenAI(
        azure_endpoint=proxy.emulator.resources[0].endpoint,
        api_key=proxy.emulator.resources[0].key,
        api_version=API_VERSION,
    )
    options = {"model": CHAT, "messages": MESSAGES, "max_tokens": 30, "seed": 1}
    expected = [c.model_dump() for c in direct.chat.completions.create(stream=True, **options)]
    got = [c.model_dump() for c in client.chat.completions.create(stream=True, **options)]
    assert len(got) == len(expected) > 3

    def text(chunks: list[dict[str, object]]) -> str:
        return "".join(
            c["choices"][0]["delta"]["content"] or ""  # type: ignore[index]
            for c in chunks
            if c["choices"]
        )

    assert text(got) == text(expected)


def test_tools_and_structured_output_pass_through(proxy: Running) -> None:
    client = proxy.client()
    called = client.chat.completions.create(
        model=CHAT,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        tool_choice="required",
    )
    call = called.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert "city" in json.loads(call.function.arguments)  # type: ignore[union-attr]
    parsed = client.chat.completions.parse(model=CHAT, messages=MESSAGES, response_format=Joke)
    assert isinstance(parsed.choices[0].message.parsed, Joke)


def test_the_v1_api_embeddings_and_responses(proxy: Running) -> None:
    v1 = openai.OpenAI(base_url=f"{proxy.url}/openai/v1/", api_key=KEY, max_retries=0)
    assert v1.chat.completions.create(model=CHAT, messages=MESSAGES).choices
    vectors = v1.embeddings.create(model=EMBEDDING, input=["one", "two"])
    assert len(vectors.data) == 2
    assert proxy.emulator.stats(EMBEDDING).served >= 1
    # A stored response lives on one resource: reading it back goes there, whoever asks.
    created = v1.responses.create(model=CHAT, input="Hello")
    for _ in range(4):
        assert v1.responses.retrieve(created.id).id == created.id


def test_classic_embeddings(proxy: Running) -> None:
    vectors = proxy.client().embeddings.create(model=EMBEDDING, input="one")
    assert len(vectors.data[0].embedding) > 0


def test_langchain_azure_chat_openai_plain(proxy: Running) -> None:
    model = AzureChatOpenAI(
        azure_endpoint=proxy.url,
        api_key=KEY,  # type: ignore[arg-type]
        api_version=API_VERSION,
        azure_deployment=CHAT,
        max_retries=0,
    )
    assert model.invoke("Tell me a joke").content
    assert "".join(str(chunk.content) for chunk in model.stream("Tell me a joke"))
    joke = model.with_structured_output(Joke).invoke("Tell me a joke")
    assert isinstance(joke, Joke)
    message = model.bind_tools([WEATHER_TOOL]).invoke("Weather in Paris?", tool_choice="required")
    assert message.tool_calls[0]["name"] == "get_weather"  # type: ignore[union-attr]


def test_the_async_sdk(proxy: Running) -> None:
    async def scenario() -> int:
        client = openai.AsyncAzureOpenAI(
            azure_endpoint=proxy.url, api_key=KEY, api_version=API_VERSION, max_retries=0
        )
        async with client:
            stream = await client.chat.completions.create(
                model=CHAT, messages=MESSAGES, stream=True
            )
            return len([chunk async for chunk in stream])

    assert asyncio.run(scenario()) > 1
