"""Check a client's JSON schema when the request arrives, into the form the answer generator walks.

Schemas come in a request (`response_format.json_schema.schema`, each tool's
`function.parameters`), and the service refuses a malformed one with a 400
before any model runs. The emulator must refuse it too, and before anything
else reads it: its generator (`_content`) follows the schema's keywords, so
each must have the type the generator expects, every `$ref` must point at a
schema in the same document, and what an instance cannot do without (the
required properties, `minItems` items) must be finite. `{"$ref": "#"}`, or an
object whose required property refers back to the object, has no instance at
all: it is refused as such instead of recursing for ever.

The check walks the document once, without recursion (a body may nest as deep
as the JSON parser allows), and leaves a `Schema`: the document plus, for each
subschema, the plain schema its `$ref`, `anyOf`/`oneOf` (the first option that
can be non-null) and `allOf` (merged) come down to. Generating an answer then
costs one dict lookup per value, however the schema was composed.
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from aoai_fallbacks._wire import type_name

TYPES = frozenset({"array", "boolean", "integer", "null", "number", "object", "string"})
MAX_SUBSCHEMAS = 10_000
"""Most subschemas in all the schemas of one request (the service allows 5,000 object
properties in one): checking costs microseconds a subschema, on the loop every request shares."""
MAX_NESTING = 32
"""Most levels of values an instance cannot do without (required properties, minimum items)."""
MAX_HOPS = 32
"""Most `$ref`, `anyOf`, `oneOf` and `allOf` steps from a subschema to its plain form."""
MAX_MERGED = 100_000
"""Most keywords, properties and required names merging the `allOf`s of one schema may copy."""
MAX_NUMBER = 1e300
"""Bounds beyond this (in size) are refused: numbers near them could not be written as JSON."""

_SCHEMA_VALUED = frozenset(
    {
        "items",
        "additionalProperties",
        "not",
        "if",
        "then",
        "else",
        "contains",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
    }
)
_SCHEMA_MAPS = frozenset(
    {"properties", "$defs", "definitions", "patternProperties", "dependentSchemas"}
)
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_LOWER_BOUNDS = {
    "maxItems": "minItems",
    "maxLength": "minLength",
    "maxProperties": "minProperties",
    "maximum": "minimum",
}

Context = tuple[str | int, ...]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_bound(value: object) -> bool:
    return _is_number(value) and -MAX_NUMBER <= value <= MAX_NUMBER  # type: ignore[operator]


def _is_type(value: object) -> bool:
    if isinstance(value, str):
        return value in TYPES
    kinds = value if isinstance(value, list) else [value]
    return (
        bool(kinds)
        and all(isinstance(kind, str) and kind in TYPES for kind in kinds)
        and len(set(kinds)) == len(kinds)
    )


def _is_names(value: object) -> bool:
    return (
        isinstance(value, list)
        and all(isinstance(name, str) for name in value)
        and len(set(value)) == len(value)
    )


def _is_filled(value: object) -> bool:
    return isinstance(value, list) and bool(value)


_BOUND_RULE = (_is_bound, f"a number between -{MAX_NUMBER:g} and {MAX_NUMBER:g}")
_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    **dict.fromkeys(
        (
            "minItems",
            "maxItems",
            "minLength",
            "maxLength",
            "minProperties",
            "maxProperties",
            "minContains",
            "maxContains",
        ),
        (_is_count, "a non-negative integer"),
    ),
    **dict.fromkeys(("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"), _BOUND_RULE),
    "multipleOf": (lambda value: _is_bound(value) and value > 0, "a number greater than 0"),
    **dict.fromkeys(
        ("$ref", "format", "pattern", "title", "description"),
        (lambda value: isinstance(value, str), "a string"),
    ),
    "uniqueItems": (lambda value: isinstance(value, bool), "a boolean"),
    "enum": (_is_filled, "a non-empty array"),
    "type": (_is_type, f"one of {', '.join(sorted(TYPES))}, or an array of distinct ones"),
    "required": (_is_names, "an array of distinct strings"),
    "items": (
        lambda value: not isinstance(value, list),
        "a schema (a tuple's items go in 'prefixItems')",
    ),
    **dict.fromkeys(_SCHEMA_MAPS, (lambda value: isinstance(value, dict), "an object")),
    **dict.fromkeys(_SCHEMA_LISTS, (_is_filled, "a non-empty array of schemas")),
}
"""What the keywords the generator reads must be: a check, and the phrase for a refusal."""


class SchemaError(ValueError):
    """What is wrong with a schema and where, worded the way the service words it."""

    def __init__(self, context: Context, problem: str) -> None:
        super().__init__(f"In context={context!r}, {problem}.")


@dataclass(frozen=True)
class Schema:
    """A checked schema document, ready for `_content` to generate instances of."""

    root: Mapping[str, Any]
    plain_forms: Mapping[int, object]
    """`id` of each subschema of `root` -> its plain form (a mapping or a boolean)."""
    size: int
    """Subschemas counted against the request's `MAX_SUBSCHEMAS`."""

    def plain(self, node: object) -> object:
        """What `node`, a subschema of this document, comes down to.

        A plain form has no `$ref`, `anyOf`, `oneOf` or `allOf` to follow; a
        boolean (`true`: anything, `false`: nothing) is its own plain form.
        """
        return self.plain_forms.get(id(node), node)


def kind_of(plain: Mapping[str, Any]) -> str:
    """The JSON type an instance of a plain form gets: its first non-null `type`, else implied."""
    kind = plain.get("type")
    if isinstance(kind, list):
        return next((k for k in kind if k != "null"), "null")
    if isinstance(kind, str):
        return kind
    if "properties" in plain or "required" in plain:
        return "object"
    if "items" in plain or "prefixItems" in plain:
        return "array"
    return "string"


def needed(plain: object) -> list[object]:
    """The subschemas an instance of `plain` cannot do without: its required properties'
    and its first `minItems` items'. The generator's least instance visits just these."""
    if not isinstance(plain, dict) or "const" in plain or "enum" in plain:
        return []
    kind = kind_of(plain)
    if kind == "object":
        properties: Mapping[str, Any] = plain.get("properties", {})
        return [properties[name] for name in plain.get("required", ()) if name in properties]
    if kind == "array":
        count: int = plain.get("minItems", 0)
        prefix: list[object] = plain.get("prefixItems", [])
        items = plain.get("items", True)
        rest = [items] if count > len(prefix) and items is not False else []
        return prefix[:count] + rest
    return []


def first_option(options: Sequence[object]) -> object:
    """The `anyOf`/`oneOf` alternative an answer takes: the first that can be non-null."""
    usable = [
        option
        for option in options
        if option is not False and not (isinstance(option, dict) and option.get("type") == "null")
    ]
    return (usable or list(options))[0]


def check_schema(document: dict[str, Any], allowance: int = MAX_SUBSCHEMAS) -> Schema:
    """Check `document` and return it ready for generation, or raise `SchemaError`.

    `allowance`: how many subschemas the request's other schemas have left it.
    """
    return _Checker(document, allowance).run()


_Where = tuple[Any, Context] | None
"""Where a subschema is, cheaply: (where its parent is, the keys from there), or None at the
root. Rendered into a `Context` only for a refusal."""


def _context(where: _Where) -> Context:
    steps: list[str | int] = []
    while where is not None:
        where, keys = where
        steps[:0] = keys
    return tuple(steps)


class _Checker:
    def __init__(self, root: dict[str, Any], allowance: int) -> None:
        self.root = root
        self.allowance = allowance
        self.nodes: dict[int, tuple[Mapping[str, Any], _Where]] = {}
        self.targets: dict[int, object] = {}
        """`id` of a subschema with `$ref` -> the subschema it points at."""
        self.plain_forms: dict[int, object] = {}
        self.settling: dict[int, None] = {}
        self.places = 0
        self.merged = 0

    def run(self) -> Schema:
        self._walk()
        for key, (node, where) in list(self.nodes.items()):
            if key not in self.plain_forms:
                self._settle(node, where)
        self._check_nesting()
        return Schema(self.root, self.plain_forms, self.places)

    def _error(self, where: _Where, problem: str) -> SchemaError:
        return SchemaError(_context(where), problem)

    # One pass over every subschema: the keywords' types, and where each `$ref` leads.

    def _walk(self) -> None:
        pending: list[tuple[object, _Where]] = [(self.root, None)]
        while pending:
            node, where = pending.pop()
            if isinstance(node, bool):
                continue
            if not isinstance(node, dict):
                problem = f"a schema must be an object or a boolean, not {type_name(node)}"
                raise self._error(where, problem)
            if id(node) in self.nodes:
                continue
            self.nodes[id(node)] = (node, where)
            for keyword, value in node.items():
                self._check_value(keyword, value, where)
                if keyword in _SCHEMA_VALUED:
                    self._count(1, where)
                    pending.append((value, (where, (keyword,))))
                elif keyword in _SCHEMA_MAPS:
                    self._count(len(value), where)
                    pending.extend((sub, (where, (keyword, name))) for name, sub in value.items())
                elif keyword in _SCHEMA_LISTS:
                    self._count(len(value), where)
                    pending.extend((sub, (where, (keyword, i))) for i, sub in enumerate(value))
            for high, low in _LOWER_BOUNDS.items():
                if low in node and high in node and node[low] > node[high]:
                    raise self._error(where, f"'{low}' is greater than '{high}': nothing is valid")
            if "$ref" in node:
                target, target_where = self._resolve(node["$ref"], where)
                self.targets[id(node)] = target
                self._count(1, where)
                pending.append((target, target_where))

    def _count(self, places: int, where: _Where) -> None:
        """Count the subschemas about to be walked (every place one is written, or a `$ref`
        leads), and refuse a schema with too many before walking them."""
        self.places += places
        if self.places > self.allowance:
            problem = f"the request's schemas have more than {MAX_SUBSCHEMAS} subschemas in all"
            raise self._error(where, problem)

    def _check_value(self, keyword: str, value: object, where: _Where) -> None:
        rule = _RULES.get(keyword)
        if rule is not None and not rule[0](value):
            got = reprlib.repr(value) if _is_number(value) else type_name(value)
            raise self._error(where, f"'{keyword}' must be {rule[1]}, not {got}")

    def _resolve(self, ref: str, where: _Where) -> tuple[object, _Where]:
        """The node a local `$ref` (`#` or a `#/` JSON pointer) points at, and where it is."""
        if ref != "#" and not ref.startswith("#/"):
            raise self._error(where, f"'$ref' {ref!r} must point into this schema ('#/...')")
        node: object = self.root
        path: list[str | int] = []
        for raw in ref[2:].split("/") if ref != "#" else ():
            part = unquote(raw).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
                path.append(part)
            elif (
                isinstance(node, list)
                and part.isascii()
                and part.isdigit()
                and len(part) < 10
                and int(part) < len(node)
            ):
                node = node[int(part)]
                path.append(int(part))
            else:
                raise self._error(where, f"'$ref' {ref!r} points at nothing in this schema")
        return node, (None, tuple(path))

    # The plain form of each subschema, and that its instances are finite.

    def _settle(self, node: object, where: _Where) -> object:
        if not isinstance(node, dict):
            return node
        key = id(node)
        if key in self.plain_forms:
            return self.plain_forms[key]
        if key in self.settling:
            raise self._error(
                where,
                "the schema comes back to itself through '$ref', 'anyOf' or 'allOf' before any "
                "property or item, so it has no instance",
            )
        if len(self.settling) >= MAX_HOPS:
            raise self._error(where, f"more than {MAX_HOPS} '$ref', 'anyOf' or 'allOf' in a row")
        self.settling[key] = None
        if "$ref" in node:
            plain = self._settle(self.targets[key], where)
        elif "const" in node or "enum" in node:
            plain = node
        elif "anyOf" in node or "oneOf" in node:
            options = node["anyOf"] if "anyOf" in node else node["oneOf"]
            plain = self._settle(first_option(options), where)
        elif "allOf" in node:
            plain = self._merge(node, where)
        else:
            plain = node
        del self.settling[key]
        self.plain_forms[key] = plain
        return plain

    def _merge(self, node: Mapping[str, Any], where: _Where) -> Mapping[str, Any]:
        """One schema asking what every part of `allOf` asks: properties and required names
        pooled, any other keyword taken from the first that has it."""
        merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
        for part in node["allOf"]:
            plain = self._settle(part, where)
            if not isinstance(plain, dict):
                continue
            for keyword, value in plain.items():
                if keyword == "properties":
                    merged[keyword] = {**value, **merged.get(keyword, {})}
                elif keyword == "required":
                    merged[keyword] = list(dict.fromkeys([*merged.get(keyword, []), *value]))
                else:
                    merged.setdefault(keyword, value)
            pooled = len(merged.get("properties", ())) + len(merged.get("required", ()))
            self.merged += len(plain) + pooled
            if self.merged > MAX_MERGED:
                raise self._error(where, f"'allOf' merges more than {MAX_MERGED} keywords")
        return merged

    def _check_nesting(self) -> None:
        """Refuse a schema whose least instance is infinite or nests deeper than `MAX_NESTING`.

        A depth-first walk over what each subschema needs (most need nothing),
        remembering each depth found.
        """
        needs = {
            key: [id(c) for c in needed(plain) if isinstance(c, dict)]
            for key, plain in self.plain_forms.items()
        }
        depth: dict[int, int] = {}
        for start, children in needs.items():
            if start in depth:
                continue
            if not children:
                depth[start] = 1
                continue
            path = [(start, list(children))]
            on_path = {start}
            while path:
                key, unseen = path[-1]
                if unseen:
                    child = unseen.pop()
                    if child in on_path:
                        problem = "a required property or item refers back to itself"
                        raise self._error(self.nodes[child][1], f"{problem}, so no instance ends")
                    if child not in depth:
                        path.append((child, list(needs[child])))
                        on_path.add(child)
                    continue
                path.pop()
                on_path.discard(key)
                depth[key] = 1 + max((depth[c] for c in needs[key]), default=0)
                if depth[key] > MAX_NESTING:
                    problem = f"an instance must nest more than {MAX_NESTING} levels deep"
                    raise self._error(self.nodes[key][1], problem)
