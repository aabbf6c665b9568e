"""Server-sent events as Azure sends them, read by openai's `Stream` and `AsyncStream`."""

from __future__ import annotations

import asyncio
import json

import httpx
import openai
import pytest

from aoai_fallbacks.emulator import Resource

from ._support import API_VERSION, DEPLOYMENT, HELLO, async_client, client

pytestmark = pytest.mark.integration


def raw_events(resource: Resource, body: dict[str, object]) -> list[str]:
    response = httpx.post(
        f"{resource.endpoint}/openai/deployments/{DEPLOYMENT}/chat/completions",
        params={"api-version": API_VERSION},
        headers={"api-key": resource.key},
        json={"messages": HELLO, "stream": True, **body},
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-request-id"]
    return [line.removeprefix("data: ") for line in response.text.split("\n\n") if line]


def test_stream_starts_with_prompt_filter_results_and_ends_with_done(resource: Resource) -> None:
    events = raw_events(resource, {"stream_options": {"include_usage": True}})

    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert chunks[0]["choices"] == []
    assert chunks[0]["prompt_filter_results"][0]["prompt_index"] == 0
    assert chunks[1]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] > 0
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


def test_stream_without_include_usage_has_no_usage_chunk(resource: Resource) -> None:
    events = raw_events(resource, {})
    chunks = [json.loads(event) for event in events[:-1]]
    assert all("usage" not in chunk for chunk in chunks)


def test_openai_stream_reassembles_the_answer(resource: Resource) -> None:
    sdk = client(resource)
    streamed = sdk.chat.completions.create(
        model=DEPLOYMENT,
        messages=HELLO,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(streamed)
    whole = sdk.chat.completions.create(model=DEPLOYMENT, messages=HELLO, temperature=0)

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens  # type: ignore[union-attr]
    assert resource.stats(DEPLOYMENT).served == 2


def test_async_client_streams_and_answers(resource: Resource) -> None:
    async def scenario() -> tuple[str, str | None]:
        sdk = async_client(resource)
        streamed = await sdk.chat.completions.create(
            model=DEPLOYMENT, messages=HELLO, stream=True, temperature=0
        )
        pieces = [c.choices[0].delta.content or "" async for c in streamed if c.choices]
        answer = await sdk.chat.completions.create(model=DEPLOYMENT, messages=HELLO, temperature=0)
        await sdk.close()
        return "".join(pieces), answer.choices[0].message.content

    streamed, answered = asyncio.run(scenario())
    assert streamed == answered


def test_async_client_sees_429(resource: Resource) -> None:
    async def scenario() -> None:
        sdk = async_client(resource)
        try:
            await sdk.chat.completions.create(model=DEPLOYMENT, messages=HELLO, max_tokens=8_000)
            await sdk.chat.completions.create(model=DEPLOYMENT, messages=HELLO, max_tokens=8_000)
        finally:
            await sdk.close()

    with pytest.raises(openai.RateLimitError):
        asyncio.run(scenario())


def test_streamed_tool_call_reassembles_to_valid_arguments(resource: Resource) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city", "days"],
            },
        },
    }
    streamed = client(resource).chat.completions.create(
        model=DEPLOYMENT, messages=HELLO, tools=[tool], tool_choice="required", stream=True
    )
    arguments = ""
    names = []
    finish = None
    for chunk in streamed:
        if not chunk.choices:
            continue
        for call in chunk.choices[0].delta.tool_calls or ():
            if call.function and call.function.name:
                names.append(call.function.name)
            arguments += (call.function and call.function.arguments) or ""
        finish = chunk.choices[0].finish_reason or finish
    assert names == ["get_weather"]
    assert set(json.loads(arguments)) == {"city", "days"}
    assert finish == "tool_calls"
