"""Generated bodies over real HTTP: the emulator never answers 5xx, and the connection lives on.

Each body is well formed but for one area, so that every area is reached:
messages with odd roles and contents, tools whose names and parameter schemas
are valid, broken or absurd (called, so their schemas are answered), response
formats, or numbers of every size where the service expects small ones.
Whatever the body, the answer is a 2xx, a 4xx or a 429, and a normal request
on the same connection right after is served. Examples are derandomized, so a
failure repeats.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aoai_fallbacks.emulator import DeploymentConfig, Resource, run_emulator
from aoai_fallbacks.testing import FakeClock

from ._support import DEPLOYMENT, HELLO, post

pytestmark = pytest.mark.integration

TYPES = ["array", "boolean", "integer", "null", "number", "object", "string"]


@pytest.fixture(scope="module")
def resource() -> Iterator[Resource]:
    """One emulator for the module, with a quota no example exhausts on a still clock."""
    roomy = DeploymentConfig(DEPLOYMENT, tpm=10**12, rpm=10**9)
    with run_emulator(deployments=[roomy], clock=FakeClock()) as emu:
        yield emu.resources[0]


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    """One keep-alive connection for every example: a broken one fails the next example."""
    with httpx.Client(timeout=30) as shared:
        yield shared


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`good` four times in five, else `bad`: a keyword of a schema is reached only when
    the keywords checked before it are right."""
    return st.integers(0, 4).flatmap(lambda roll: bad if roll == 0 else good)


# Numbers of every size: small, huge (up to the 4,300 digits Python's parser reads), fractional.
numbers = st.one_of(
    st.integers(-3, 200),
    st.integers(),
    st.integers(-(10**4299), 10**4299),
    st.sampled_from([2**31 - 1, 2**31, 2**63, -(2**63) - 1, 10**4299]),
    st.floats(allow_nan=False, allow_infinity=False),
)
counts = mostly(st.integers(0, 5), numbers)
"""Sizes in a schema: mostly small, else any number (a million items, 4,300 digits, 1.5)."""
texts = st.text(st.characters(codec=None), max_size=30)  # lone surrogates included
names = mostly(st.from_regex(r"[a-zA-Z0-9_-]{1,64}", fullmatch=True), texts)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=8,
)


def _schemas(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Schema keywords with values of the right type, now and then of the wrong type."""
    schema_list = st.lists(children, max_size=3)
    kinds = st.sampled_from(TYPES)
    refs = st.sampled_from(["#", "#/$defs/a", "#/properties/x", "#/nope", "#/items", "x"])
    keyword_values = {
        "type": kinds | st.lists(kinds, max_size=3),
        "properties": st.dictionaries(st.sampled_from("xyz"), children, max_size=3),
        "$defs": st.dictionaries(st.sampled_from("ab"), children, max_size=2),
        "required": st.lists(st.sampled_from("xyzw"), max_size=3),
        "items": children,
        "prefixItems": schema_list,
        "anyOf": schema_list,
        "oneOf": schema_list,
        "allOf": schema_list,
        "enum": st.lists(json_values, max_size=3),
        "const": json_values,
        "$ref": refs,
        "minItems": counts,
        "maxItems": counts,
        "minLength": counts,
        "maxLength": counts,
        "minimum": numbers,
        "maximum": numbers,
        "exclusiveMinimum": numbers,
        "exclusiveMaximum": numbers,
        "uniqueItems": st.booleans(),
        "format": st.sampled_from(["uuid", "date-time", "email", "nope"]),
        "additionalProperties": children,
    }
    chosen = st.lists(st.sampled_from(sorted(keyword_values)), max_size=4, unique=True)
    return chosen.flatmap(
        lambda keys: st.fixed_dictionaries(
            {key: mostly(keyword_values[key], json_values) for key in keys}
        )
    )


schemas = st.recursive(
    st.just({}) | st.booleans() | st.sampled_from([{"type": kind} for kind in TYPES]),
    _schemas,
    max_leaves=10,
)
message = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "system", "assistant", "tool"])},
    optional={"content": texts, "name": names},
)
odd_message = st.fixed_dictionaries(
    {},
    optional={
        "role": json_values,
        "content": json_values,
        "name": json_values,
        "tool_calls": json_values,
    },
)
function = st.fixed_dictionaries(
    {"name": names}, optional={"parameters": mostly(schemas, json_values)}
)
tools = st.lists(
    mostly(
        st.fixed_dictionaries({"type": st.just("function"), "function": function}), json_values
    ),
    min_size=1,
    max_size=2,
)
tool_choices = mostly(
    st.just("required"),  # so that the parameters' schema is answered
    st.sampled_from(["auto", "none"])
    | st.builds(lambda name: {"type": "function", "function": {"name": name}}, names)
    | json_values,
)
response_formats = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.just("json_schema"),
            "json_schema": mostly(
                st.fixed_dictionaries({"name": names}, optional={"schema": schemas}), json_values
            ),
        }
    ),
    st.fixed_dictionaries({"type": st.sampled_from(["text", "json_object"]) | json_values}),
)
numeric = [
    "max_tokens",
    "max_completion_tokens",
    "n",
    "temperature",
    "top_p",
    "seed",
    "top_logprobs",
]

# A well-formed body with one area changed: an area deep in the body is reached only when
# the fields checked before it are right.
well_formed = st.fixed_dictionaries(
    {"messages": st.lists(message, min_size=1, max_size=3)},
    optional={
        "max_tokens": st.integers(1, 300),
        "n": st.integers(1, 4),
        "temperature": st.floats(0, 2),
        "stream": st.booleans(),
    },
)
changes = st.one_of(
    st.fixed_dictionaries(
        {"messages": st.lists(odd_message | message, min_size=1, max_size=3) | json_values}
    ),
    st.fixed_dictionaries({"tools": tools, "tool_choice": tool_choices}),
    st.fixed_dictionaries({"response_format": response_formats}),
    st.dictionaries(st.sampled_from(numeric), numbers | json_values, min_size=1, max_size=3),
    st.fixed_dictionaries(
        {},
        optional={
            "stop": mostly(st.lists(texts, max_size=5) | texts, json_values),
            "logprobs": st.booleans() | json_values,
        },
    ),
    st.fixed_dictionaries(
        {"stream": st.booleans() | json_values},
        optional={"stream_options": st.fixed_dictionaries({"include_usage": json_values})},
    ),
)
bodies = st.builds(lambda base, change: {**base, **change}, well_formed, changes)

NORMAL = json.dumps({"messages": HELLO, "max_tokens": 5}).encode()


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(body=bodies)
def test_no_body_gets_a_5xx_or_breaks_the_connection(
    resource: Resource, http: httpx.Client, body: dict[str, Any]
) -> None:
    response = post(resource, json.dumps(body).encode(), http=http)

    assert response.status_code < 500, response.text
    assert post(resource, NORMAL, http=http).status_code == 200
