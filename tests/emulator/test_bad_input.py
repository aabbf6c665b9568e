"""Malformed input gets Azure's 400 naming the parameter: never a 500, a stall or a lost connection.

Each case here once crashed the emulator or tied up its event loop (issue 15).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from aoai_fallbacks.emulator import DeploymentConfig, Emulator, Resource, _app, run_emulator
from aoai_fallbacks.testing import FakeClock

from ._support import DEPLOYMENT, HELLO, NINES, chat_url, client, post, with_literal

pytestmark = pytest.mark.integration

ROOMY = DeploymentConfig(DEPLOYMENT, tpm=100_000_000, rpm=1_000_000)
"""A quota that a test sending hundreds of requests on a still clock never exhausts."""


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """One emulator for the module (each starts and stops in about 0.2 s)."""
    with run_emulator(deployments=[ROOMY], clock=FakeClock()) as emu:
        yield emu


@pytest.fixture
def resource(emulator: Emulator) -> Resource:
    emulator.reset()
    return emulator.resources[0]


def body(**fields: Any) -> bytes:
    return json.dumps({"messages": HELLO, **fields}).encode()


def structured(schema: object) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}


def tool(parameters: object, name: str = "lookup") -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": name, "parameters": parameters}}]


MALFORMED_SCHEMAS = [
    pytest.param({"enum": []}, "'enum' must be a non-empty array", id="empty-enum"),
    pytest.param(
        {"anyOf": 0.4}, "'anyOf' must be a non-empty array of schemas", id="anyOf-number"
    ),
    pytest.param({"allOf": [1]}, "a schema must be an object or a boolean", id="allOf-of-1"),
    pytest.param({"$ref": "#"}, "comes back to itself", id="ref-to-itself"),
    pytest.param({"$ref": "#/nope"}, "points at nothing", id="ref-to-nothing"),
    pytest.param({"$ref": "http://x/y"}, "must point into this schema", id="remote-ref"),
    pytest.param({"type": "array", "minItems": "x"}, "'minItems' must be", id="minItems-text"),
    pytest.param({"type": "number", "minimum": "a"}, "'minimum' must be", id="minimum-text"),
    pytest.param({"type": "object", "required": 5}, "'required' must be", id="required-5"),
    pytest.param({"type": "object", "properties": 5}, "'properties' must be", id="properties-5"),
    pytest.param({"type": "thing"}, "'type' must be one of", id="unknown-type"),
    pytest.param({"minimum": 3, "maximum": 1}, "nothing is valid", id="empty-range"),
    pytest.param(
        {"type": "object", "properties": {"me": {"$ref": "#"}}, "required": ["me"]},
        "refers back to itself",
        id="required-self",
    ),
    pytest.param(
        {"type": "array", "minItems": 1, "items": {"$ref": "#"}},
        "refers back to itself",
        id="items-self",
    ),
    pytest.param(
        {"type": "object", "properties": {f"p{i}": {} for i in range(10_001)}},
        "more than 10000 subschemas",
        id="too-many-subschemas",
    ),
]


@pytest.mark.parametrize(("schema", "problem"), MALFORMED_SCHEMAS)
def test_a_malformed_response_schema_is_400_invalid_json_schema(
    resource: Resource, schema: object, problem: str
) -> None:
    response = post(resource, body(response_format=structured(schema)))

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert (error["param"], error["code"]) == ("response_format", "invalid_json_schema")
    assert error["message"].startswith("Invalid schema for response_format 'answer': In context=")
    assert problem in error["message"]
    assert resource.stats(DEPLOYMENT).rejected == 1


@pytest.mark.parametrize(("schema", "problem"), MALFORMED_SCHEMAS)
def test_malformed_tool_parameters_are_400_invalid_function_parameters(
    resource: Resource, schema: object, problem: str
) -> None:
    response = post(resource, body(tools=tool(schema), tool_choice="required"))

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (
        "tools[0].function.parameters",
        "invalid_function_parameters",
    )
    assert error["message"].startswith("Invalid schema for function 'lookup': In context=")
    assert problem in error["message"]


def test_the_context_of_a_schema_error_says_where_it_is(resource: Resource) -> None:
    schema = {"type": "object", "properties": {"tags": {"type": "array", "maxItems": -1}}}
    response = post(resource, body(response_format=structured(schema)))

    assert (
        "In context=('properties', 'tags'), 'maxItems' must be"
        in response.json()["error"]["message"]
    )


def test_the_subschemas_of_all_tools_count_together(resource: Resource) -> None:
    parameters = {"type": "object", "properties": {f"p{i}": {} for i in range(4_000)}}
    tools = [tool(parameters, name=f"f{i}")[0] for i in range(3)]
    response = post(resource, body(tools=tools))

    error = response.json()["error"]
    assert (error["param"], error["code"]) == (
        "tools[2].function.parameters",
        "invalid_function_parameters",
    )
    assert "more than 10000 subschemas in all" in error["message"]


def test_a_lone_surrogate_in_an_echoed_name_still_gets_its_400(resource: Resource) -> None:
    content = body(
        tools=tool({}), tool_choice={"type": "function", "function": {"name": "\ud800"}}
    )
    response = post(resource, content)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "tool_choice"


def test_a_trailing_slash_is_404_resource_not_found_not_a_redirect(resource: Resource) -> None:
    response = httpx.post(
        chat_url(resource) + "/",
        params={"api-version": "2024-10-21"},
        headers={"api-key": resource.key},
        json={"messages": HELLO},
    )

    assert response.status_code == 404
    assert response.json() == {"error": {"code": "404", "message": "Resource not found"}}


def test_an_answer_never_outgrows_max_tokens_whatever_the_schema_asks(resource: Resource) -> None:
    huge = {"type": "array", "minItems": 1_000_000}
    answer = client(resource).chat.completions.create(
        model=DEPLOYMENT,
        messages=HELLO,
        n=8,
        max_tokens=100,
        response_format=structured(huge),  # type: ignore[arg-type]
    )

    assert [choice.finish_reason for choice in answer.choices] == ["length"] * 8
    assert all(len(choice.message.content or "") == 400 for choice in answer.choices)
    assert answer.usage is not None
    assert answer.usage.completion_tokens == 8 * 100


def test_without_max_tokens_the_deployments_default_bounds_the_answer(resource: Resource) -> None:
    nested = {
        "type": "array",
        "minItems": 1_000,
        "items": {
            "type": "array",
            "minItems": 1_000,
            "items": {"type": "string", "minLength": 10**6},
        },
    }
    answer = client(resource).chat.completions.create(
        model=DEPLOYMENT,
        messages=[{"role": "user", "content": "use lookup"}],
        tools=tool({"type": "object", "properties": {"rows": nested}, "required": ["rows"]}),  # type: ignore[arg-type]
        tool_choice="required",
    )

    choice = answer.choices[0]
    assert choice.finish_reason == "length"
    assert choice.message.tool_calls is not None
    arguments = choice.message.tool_calls[0].function.arguments  # type: ignore[union-attr]
    assert len(arguments) == 4 * 256  # default_max_tokens, about 4 characters a token


FORMERLY_FATAL = [
    b'{"messages": [{"role": []}]}',
    body(response_format=structured({"$ref": "#"})),
    body(tools=tool({"anyOf": 0.4}), tool_choice="required"),
    with_literal("max_tokens", NINES),
]


def test_refusals_keep_a_keep_alive_connection_usable(resource: Resource) -> None:
    with httpx.Client() as http:
        for _ in range(25):
            for content in FORMERLY_FATAL:
                assert post(resource, content, http=http).status_code == 400
                assert post(resource, body(max_tokens=5), http=http).status_code == 200

    assert resource.stats(DEPLOYMENT).served == 100


def test_an_emulator_bug_is_an_ordinary_500_that_keeps_the_connection(
    resource: Resource, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    estimate = _app.prompt_tokens

    def buggy_estimate(request_body: Any) -> int:
        if "crash" in json.dumps(request_body):
            raise RuntimeError("a bug in the emulator")
        return estimate(request_body)

    monkeypatch.setattr(_app, "prompt_tokens", buggy_estimate)
    crash = json.dumps({"messages": [{"role": "user", "content": "crash"}]}).encode()
    with caplog.at_level(logging.ERROR), httpx.Client() as http:
        for _ in range(50):
            failed = post(resource, crash, http=http)
            assert failed.status_code == 500
            assert failed.json()["error"]["code"] == "InternalServerError"
            assert post(resource, body(max_tokens=5), http=http).status_code == 200

    assert resource.stats(DEPLOYMENT).served == 50
    assert sum("emulator bug" in record.getMessage() for record in caplog.records) == 50


def test_the_openai_sdk_reads_the_refusal_of_a_bad_schema(resource: Resource) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(resource).chat.completions.create(
            model=DEPLOYMENT,
            messages=HELLO,
            response_format=structured({"enum": []}),  # type: ignore[arg-type]
        )
    assert caught.value.code == "invalid_json_schema"
