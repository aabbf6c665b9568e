"""What a model makes of its prompt: the tool it is about, the values it gives, the keys it
names. The emulator answers these as a model would, and draws only what the prompt leaves open."""

from __future__ import annotations

import json
import random
from typing import Any

import jsonschema
import pytest

from aoai_fallbacks.emulator import Resource
from aoai_fallbacks.emulator._content import schema_answer, tool_to_call
from aoai_fallbacks.emulator._prompt import Prompt
from aoai_fallbacks.emulator._request import Function
from aoai_fallbacks.emulator._schema import check_schema

from ._support import DEPLOYMENT, client

ADDER = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
}
CUSTOMER = {
    "type": "object",
    "properties": {"customer_name": {"type": "string"}, "description": {"type": "string"}},
    "required": ["customer_name", "description"],
}


def _user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def _arguments(schema: dict[str, Any], text: str, seed: int = 0) -> Any:
    prompt = Prompt.of(_user(text))
    answer, finish_reason = schema_answer(
        check_schema(schema), random.Random(seed), 1_000, prompt.mentions()
    )
    assert finish_reason == "stop"
    value = json.loads(answer)
    jsonschema.validate(value, schema)
    return value


def test_numbers_the_prompt_gives_are_the_arguments() -> None:
    assert _arguments(ADDER, "What is 3 + 4?") == {"a": 3, "b": 4}
    assert _arguments({"type": "number"}, "Round -2.5 for me") == -2.5


def test_a_number_the_schema_refuses_is_passed_over() -> None:
    bounded = {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "exclusiveMinimum": -1000, "exclusiveMaximum": 1000},
            "even": {"type": "integer", "multipleOf": 2},
        },
        "required": ["n", "even"],
    }
    assert _arguments(bounded, "Try 5001, 1.5, 7, 9 then 8") == {"n": 7, "even": 8}


def test_quoted_phrases_then_proper_names_fill_strings() -> None:
    text = "Create a customer named '你好啊集团' (Hello Group) - a Chinese technology company"

    assert _arguments(CUSTOMER, text) == {
        "customer_name": "你好啊集团",
        "description": "Hello Group",
    }
    assert _arguments({"type": "string"}, "What is the weather in San Francisco, CA?") == (
        "San Francisco, CA"
    )


def test_strings_with_a_format_or_too_short_for_the_phrase_are_drawn() -> None:
    schema = {
        "type": "object",
        "properties": {
            "when": {"type": "string", "format": "date"},
            "code": {"type": "string", "maxLength": 3},
        },
        "required": ["when", "code"],
    }
    assert _arguments(schema, "Book 'a very long phrase' please") != {
        "when": "a very long phrase",
        "code": "a very long phrase",
    }


def test_an_enum_value_the_prompt_names_is_chosen() -> None:
    colours = {"enum": ["red", "green", "blue"]}

    assert {_arguments(colours, "Paint it green", seed) for seed in range(10)} == {"green"}
    assert len({_arguments(colours, "Paint it", seed) for seed in range(10)}) > 1


def test_what_the_prompt_leaves_open_stays_seeded() -> None:
    assert _arguments(ADDER, "Add two numbers", 1) == _arguments(ADDER, "Add two numbers", 1)


def test_a_tool_the_prompt_is_about_is_called_under_auto() -> None:
    anything = check_schema({})
    weather, stocks = Function("get_weather", anything), Function("stock_price", anything)
    tools = [stocks, weather]
    asked = [{"role": "user", "content": "What is the weather in Paris?"}]
    answered = [*asked, {"role": "tool", "content": "sunny", "tool_call_id": "1"}]

    assert tool_to_call(tools, "auto", Prompt.of(asked)) is weather
    assert tool_to_call(tools, "auto", Prompt.of(_user("Tell me a joke"))) is None
    assert tool_to_call(tools, "auto", Prompt.of(answered)) is None
    assert tool_to_call(tools, "required", Prompt.of(_user("Tell me a joke"))) is stocks
    assert tool_to_call(tools, "required", Prompt.of(_user("Any stock prices?"))) is stocks


def test_an_agent_loop_on_the_wire(resource: Resource) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"location": {"type": "string"}},
                "required": ["location"],
            },
        },
    }
    asked = _user("What is the weather in San Francisco, CA?")
    sdk = client(resource)

    first = sdk.chat.completions.create(model=DEPLOYMENT, messages=asked, tools=[tool])
    call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
    answered = [
        *asked,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "content": "It's sunny.", "tool_call_id": call.id},
    ]
    second = sdk.chat.completions.create(model=DEPLOYMENT, messages=answered, tools=[tool])

    assert first.choices[0].finish_reason == "tool_calls"
    assert json.loads(call.function.arguments) == {"location": "San Francisco, CA"}  # type: ignore[union-attr]
    assert second.choices[0].message.tool_calls is None
    assert second.choices[0].message.content


@pytest.mark.parametrize("where", ["user", "system"])
def test_json_mode_writes_the_keys_the_prompt_names(resource: Resource, where: str) -> None:
    ask = "Tell me a joke about cats as JSON with 'setup' and 'punchline' keys."
    messages = (
        _user(ask)
        if where == "user"
        else [{"role": "system", "content": ask}, {"role": "user", "content": "Go on."}]
    )
    answer = client(resource).chat.completions.create(
        model=DEPLOYMENT, messages=messages, response_format={"type": "json_object"}
    )
    joke = json.loads(answer.choices[0].message.content or "")

    assert list(joke) == ["setup", "punchline"]
    assert all(isinstance(value, str) and value for value in joke.values())


def test_json_mode_without_named_keys_answers_in_one_key(resource: Resource) -> None:
    answer = client(resource).chat.completions.create(
        model=DEPLOYMENT,
        messages=_user("Tell me a joke in JSON"),
        response_format={"type": "json_object"},
    )
    assert list(json.loads(answer.choices[0].message.content or "")) == ["answer"]
