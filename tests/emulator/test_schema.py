"""Schemas checked up front, and answers generated from them that always end, within their limit."""

from __future__ import annotations

import json
import random
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from aoai_fallbacks.emulator._content import schema_answer
from aoai_fallbacks.emulator._schema import MAX_NESTING, SchemaError, check_schema


class Leaf(BaseModel):
    name: str
    size: int | None = None


class Tree(BaseModel):
    """Recursive, optional, nested and referenced: what pydantic sends."""

    label: str
    leaves: list[Leaf]
    children: list[Tree] = []
    parent: Tree | None = None


def answer(schema: dict[str, Any], limit: int = 2_000, seed: int = 0) -> tuple[str, str]:
    return schema_answer(check_schema(schema), random.Random(seed), limit)


def test_a_pydantic_schema_passes_and_its_answer_validates() -> None:
    schema = Tree.model_json_schema()
    for seed in range(10):
        text, finish_reason = answer(schema, seed=seed)
        assert finish_reason == "stop"
        Tree.model_validate_json(text)
        jsonschema.validate(json.loads(text), schema)


@pytest.mark.parametrize(
    ("schema", "context"),
    [
        ({"properties": {"a": {"items": {"enum": []}}}}, "('properties', 'a', 'items')"),
        ({"$defs": {"x": {"$ref": "#/$defs/y"}, "y": {"$ref": "#/$defs/x"}}}, "('$defs', "),
        ({"anyOf": [{"$ref": "#"}]}, "()"),
        ({"allOf": [{"$ref": "#"}, {"type": "object"}]}, "()"),
        ({"prefixItems": [{"minLength": 1.5}]}, "('prefixItems', 0)"),
        ({"$ref": "#/$defs/missing", "$defs": {}}, "()"),
    ],
)
def test_errors_say_where_they_are(schema: dict[str, Any], context: str) -> None:
    with pytest.raises(SchemaError) as caught:
        check_schema(schema)
    assert str(caught.value).startswith(f"In context={context}")


@pytest.mark.parametrize(
    "schema", [{"maxItems": 1, "minItems": "x"}, {"minItems": "x", "maxItems": 1}]
)
def test_a_bound_of_the_wrong_type_is_refused_before_bounds_are_compared(
    schema: dict[str, Any],
) -> None:
    with pytest.raises(SchemaError, match="'minItems' must be a non-negative integer"):
        check_schema(schema)


def test_a_required_cycle_through_allof_parts_is_found() -> None:
    # Neither part alone requires `x` and defines it; merged, the object needs itself.
    schema = {
        "$defs": {
            "S": {
                "allOf": [{"properties": {"x": {"$ref": "#/$defs/S"}}}, {"required": ["x"]}],
            }
        },
        "$ref": "#/$defs/S",
    }
    with pytest.raises(SchemaError, match="refers back to itself"):
        check_schema(schema)


def test_an_optional_cycle_is_fine_and_its_answer_ends() -> None:
    schema = {"type": "object", "properties": {"next": {"$ref": "#"}, "v": {"type": "integer"}}}
    for seed in range(10):
        text, finish_reason = answer(schema, seed=seed)
        assert finish_reason == "stop"
        jsonschema.validate(json.loads(text), schema)


def chain(levels: int) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        node = {"type": "object", "properties": {"a": node}, "required": ["a"]}
    return node


def test_required_nesting_is_bounded() -> None:
    check_schema(chain(MAX_NESTING - 1))
    with pytest.raises(SchemaError, match=f"more than {MAX_NESTING} levels"):
        check_schema(chain(MAX_NESTING))


def test_a_schema_nested_deeper_than_the_recursion_limit_is_refused_not_a_crash() -> None:
    with pytest.raises(SchemaError):
        check_schema(chain(2_000))


def test_refs_resolve_json_pointers_with_escapes_and_indexes() -> None:
    schema = {
        "$defs": {"a/b": {"type": "integer", "minimum": 3, "maximum": 3}, "c~d": {"const": 1}},
        "type": "array",
        "prefixItems": [
            {"$ref": "#/$defs/a~1b"},
            {"$ref": "#/$defs/c~0d"},
            {"$ref": "#/prefixItems/0"},
            {"$ref": "#/$defs/a%2Fb"},
        ],
        "items": False,
        "minItems": 4,
    }
    assert json.loads(answer(schema)[0]) == [3, 1, 3, 3]


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "array", "minItems": 10**100},
        {"type": "array", "minItems": 1_000, "items": {"type": "array", "minItems": 1_000}},
        {"type": "string", "minLength": 10**9},
        {"type": "array", "minItems": 10**9, "items": {"type": "array", "maxItems": 0}},
        {"type": "object", "required": [f"p{i}" for i in range(100_000)]},
        {"const": "x" * 100_000},
    ],
)
def test_an_answer_too_long_for_its_limit_is_cut_at_the_limit(schema: dict[str, Any]) -> None:
    text, finish_reason = answer(schema, limit=50)
    assert (len(text), finish_reason) == (200, "length")


# Valid schemas of the subset the generator honours: every answer that ends validates.

_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_bounds = st.tuples(st.integers(-(10**12), 10**12), st.integers(0, 10**6))


def _integers(bounds: tuple[int, int]) -> dict[str, Any]:
    low, width = bounds
    return {"type": "integer", "minimum": low, "maximum": low + width}


def _numbers(bounds: tuple[float, float]) -> dict[str, Any]:
    low, high = sorted(bounds)
    return {"type": "number", "minimum": low, "maximum": high}


_leaves = st.one_of(
    st.builds(_integers, _bounds),
    st.builds(_numbers, st.tuples(*[st.floats(-1e300, 1e300)] * 2)),
    st.fixed_dictionaries(
        {"type": st.just("string")},
        optional={"minLength": st.integers(0, 40), "maxLength": st.integers(40, 60)},
    ),
    st.fixed_dictionaries(
        {"type": st.just("string"), "format": st.sampled_from(["uuid", "date"])}
    ),
    st.sampled_from([{"type": "boolean"}, {"type": "null"}, {"type": ["string", "null"]}, {}]),
    st.builds(lambda values: {"enum": values}, st.lists(_scalars, min_size=1, max_size=4)),
    st.builds(lambda value: {"const": value}, _scalars),
)


def _object(properties: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    required = (
        data.draw(st.lists(st.sampled_from(sorted(properties)), unique=True)) if properties else []
    )
    return {"type": "object", "properties": properties, "required": required}


def _composites(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    names = st.text("abcxyz", min_size=1, max_size=3)
    return st.one_of(
        st.builds(_object, st.dictionaries(names, children, max_size=4), st.data()),
        st.builds(
            lambda items, low, extra: {
                "type": "array",
                "items": items,
                "minItems": low,
                "maxItems": low + extra,
            },
            children,
            st.integers(0, 3),
            st.integers(0, 5),
        ),
        st.builds(lambda options: {"anyOf": options}, st.lists(children, min_size=1, max_size=3)),
    )


def _recursive(value: dict[str, Any]) -> dict[str, Any]:
    """A linked list of `value`s: recursion through an optional property (at the root, where
    `#` is)."""
    node = {
        "type": "object",
        "properties": {"v": value, "next": {"$ref": "#/$defs/node"}},
        "required": ["v"],
    }
    return {"$defs": {"node": node}, "$ref": "#/$defs/node"}


_trees = st.recursive(_leaves, _composites, max_leaves=12)
valid_schemas = _trees | st.builds(_recursive, _trees)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(schema=valid_schemas, limit=st.integers(1, 400), seed=st.integers(0, 2**32))
def test_every_valid_schema_gets_an_answer_that_validates_or_is_cut(
    schema: dict[str, Any], limit: int, seed: int
) -> None:
    text, finish_reason = answer(schema, limit=limit, seed=seed)

    assert len(text) <= 4 * limit
    if finish_reason == "stop":
        jsonschema.validate(json.loads(text), schema)
    else:
        assert (finish_reason, len(text)) == ("length", 4 * limit)
