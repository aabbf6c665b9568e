"""Deterministic answers: prose within its budget, JSON that validates against its schema."""

from __future__ import annotations

import json
import random
from typing import Any

import jsonschema
import pytest

from aoai_fallbacks.emulator._content import answer_text, schema_answer, tool_to_call
from aoai_fallbacks.emulator._prompt import Prompt
from aoai_fallbacks.emulator._request import Function
from aoai_fallbacks.emulator._schema import check_schema
from aoai_fallbacks.emulator._tokens import prompt_tokens, text_tokens

SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "properties": {"a": {"type": "string", "minLength": 30, "maxLength": 40}}},
    {"type": "integer", "minimum": 5, "maximum": 7},
    {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    {"type": "array", "items": {"type": "boolean"}, "minItems": 2, "maxItems": 4},
    {"enum": ["red", "green"]},
    {"const": 42},
    {"type": ["string", "null"], "format": "date-time"},
    {"anyOf": [{"type": "null"}, {"type": "string", "format": "email"}]},
    {"type": "string", "format": "uuid"},
    {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                },
                "required": ["name", "children"],
                "additionalProperties": False,
            }
        },
        "$ref": "#/$defs/Node",
    },
    {"allOf": [{"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}]},
    {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "items": False},
]


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize("seed", range(5))
def test_schema_instances_validate(schema: dict[str, Any], seed: int) -> None:
    text, finish_reason = schema_answer(check_schema(schema), random.Random(seed), 1_000)

    assert finish_reason == "stop"
    jsonschema.validate(json.loads(text), schema, format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize("limit", [1, 2, 5, 17, None])
def test_answers_stay_within_their_budget(limit: int | None) -> None:
    for seed in range(20):
        text, finish_reason = answer_text(random.Random(seed), limit)
        assert text
        assert text_tokens(text) <= (40 if limit is None else limit)
        if limit is None:
            assert finish_reason == "stop"


def test_answers_are_deterministic() -> None:
    assert answer_text(random.Random(1), None) == answer_text(random.Random(1), None)


def test_tool_choice_rules() -> None:
    anything = check_schema({})
    alpha, beta = Function("alpha", anything), Function("beta", anything)
    tools = [alpha, beta]
    user = [{"role": "user", "content": "please use beta"}]
    after_tool = [*user, {"role": "tool", "content": "done", "tool_call_id": "1"}]
    named = {"type": "function", "function": {"name": "alpha"}}

    assert tool_to_call(tools, named, Prompt.of(user)) is alpha
    assert tool_to_call(tools, "required", Prompt.of(user)) is beta
    assert tool_to_call(tools, "required", Prompt.of(after_tool)) is alpha
    assert tool_to_call(tools, None, Prompt.of(user)) is beta
    assert tool_to_call(tools, "auto", Prompt.of(after_tool)) is None
    assert tool_to_call(tools, "none", Prompt.of(user)) is None


def test_prompt_tokens_grow_with_the_prompt_and_count_tools() -> None:
    short = {"messages": [{"role": "user", "content": "hi"}]}
    longer = {"messages": [{"role": "user", "content": "hi" * 100}]}
    tooled = {**short, "tools": [{"type": "function", "function": {"name": "alpha"}}]}

    assert prompt_tokens(short) == 3 + 3 + 1
    assert prompt_tokens(longer) == 3 + 3 + 50
    assert prompt_tokens(tooled) > prompt_tokens(short)
