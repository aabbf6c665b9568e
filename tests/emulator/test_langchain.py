"""`AzureChatOpenAI` against the emulator: invoke, stream, `bind_tools`, `with_structured_output`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import jsonschema
import openai
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.tools import tool
from langchain_openai import AzureChatOpenAI
from pydantic import BaseModel, Field

from aoai_fallbacks.emulator import DeploymentConfig, Emulator, Resource, run_emulator
from aoai_fallbacks.testing import FakeClock

from ._support import API_VERSION, DEPLOYMENT, client

pytestmark = pytest.mark.integration


def chat_model(resource: Resource, **options: object) -> AzureChatOpenAI:
    return AzureChatOpenAI(
        azure_endpoint=resource.endpoint,
        api_key=resource.key,  # type: ignore[arg-type]
        api_version=API_VERSION,
        azure_deployment=DEPLOYMENT,
        max_retries=0,
        **options,  # type: ignore[arg-type]
    )


@tool
def get_weather(city: str, days: int) -> str:
    """Forecast the weather in a city for some days."""
    return f"sunny in {city} for {days} days"


class Joke(BaseModel):
    """A joke, set up and delivered."""

    setup: str = Field(description="the question")
    punchline: str
    rating: int = Field(ge=1, le=10)
    tone: Literal["dry", "silly"]
    tags: list[str]


@pytest.fixture
def tight() -> Iterator[Emulator]:
    with run_emulator(
        deployments=[DeploymentConfig(DEPLOYMENT, tpm=300)], clock=FakeClock()
    ) as emu:
        yield emu


def test_invoke_returns_an_ai_message_with_usage(resource: Resource) -> None:
    answer = chat_model(resource).invoke("Tell me a joke")

    assert isinstance(answer, AIMessage)
    assert answer.content
    assert answer.usage_metadata is not None
    assert answer.usage_metadata["total_tokens"] > 0


def test_max_completion_tokens_from_langchain_is_honoured(resource: Resource) -> None:
    answer = chat_model(resource, max_tokens=2).invoke("Tell me a long story")
    assert answer.usage_metadata is not None
    assert answer.usage_metadata["output_tokens"] <= 2
    assert answer.response_metadata["finish_reason"] == "length"


def test_stream_yields_chunks_that_add_up(resource: Resource) -> None:
    model = chat_model(resource, temperature=0, stream_usage=True)
    chunks = list(model.stream("Tell me a joke"))
    whole = model.invoke("Tell me a joke")

    assert all(isinstance(chunk, AIMessageChunk) for chunk in chunks)
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    assert merged.content == whole.content
    assert merged.usage_metadata is not None


def test_throttled_langchain_call_raises_rate_limit_error(tight: Emulator) -> None:
    model = chat_model(tight.resources[0], max_tokens=250)
    model.invoke("hi")
    with pytest.raises(openai.RateLimitError):
        model.invoke("hi")
    assert tight.stats(DEPLOYMENT).throttled == 1


def test_bind_tools_gets_a_call_whose_arguments_fit_the_schema(resource: Resource) -> None:
    model = chat_model(resource).bind_tools([get_weather], tool_choice="get_weather")
    answer = model.invoke("What's the weather?")

    assert isinstance(answer, AIMessage)
    assert len(answer.tool_calls) == 1
    call = answer.tool_calls[0]
    assert call["name"] == "get_weather"
    jsonschema.validate(call["args"], get_weather.args_schema.model_json_schema())  # type: ignore[union-attr]
    assert get_weather.invoke(call["args"]).startswith("sunny in ")


def test_auto_tool_choice_calls_a_tool_the_user_names_and_then_answers(resource: Resource) -> None:
    model = chat_model(resource).bind_tools([get_weather])

    plain = model.invoke("Tell me a joke")
    asked = model.invoke("Use get_weather for Paris")

    assert plain.tool_calls == []  # type: ignore[attr-defined]
    assert [c["name"] for c in asked.tool_calls] == ["get_weather"]  # type: ignore[attr-defined]


def test_with_structured_output_returns_a_valid_model(resource: Resource) -> None:
    joke = chat_model(resource).with_structured_output(Joke).invoke("Tell me a joke")

    assert isinstance(joke, Joke)
    assert 1 <= joke.rating <= 10


def test_with_structured_output_sends_a_strict_json_schema(resource: Resource) -> None:
    """What langchain-openai sends by default: the emulator must answer it as Azure would."""
    schema = Joke.model_json_schema()
    response = client(resource).chat.completions.parse(
        model=DEPLOYMENT,
        messages=[{"role": "user", "content": "Tell me a joke"}],
        response_format=Joke,
    )
    parsed = response.choices[0].message.parsed
    assert isinstance(parsed, Joke)
    jsonschema.validate(parsed.model_dump(), schema)


def test_with_structured_output_function_calling_method(resource: Resource) -> None:
    joke = (
        chat_model(resource)
        .with_structured_output(Joke, method="function_calling")
        .invoke("Tell me a joke")
    )
    assert isinstance(joke, Joke)
