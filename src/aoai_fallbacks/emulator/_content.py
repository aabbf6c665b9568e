"""Deterministic answers: prose, tool calls, and JSON that validates against a given schema.

A test must be able to predict and repeat what the emulator says, so every
choice is drawn from a `random.Random` seeded by the emulator's seed and the
request. The answers only need to be well formed, not wise: the SDKs and
LangChain parse them, `bind_tools` gets arguments its tool's schema accepts,
and `with_structured_output` gets an object its schema (and pydantic) accept.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from aoai_fallbacks.emulator._tokens import text_tokens

_WORDS = [
    "the",
    "quick",
    "answer",
    "is",
    "that",
    "quotas",
    "refill",
    "over",
    "a",
    "sliding",
    "window",
    "so",
    "a",
    "patient",
    "client",
    "spreads",
    "its",
    "calls",
    "across",
    "deployments",
    "and",
    "every",
    "request",
    "finds",
    "capacity",
    "somewhere",
    "while",
    "throttled",
    "backends",
    "rest",
    "until",
    "their",
    "retry",
    "after",
    "has",
    "passed",
    "and",
    "the",
    "service",
    "keeps",
    "answering",
    "with",
    "tokens",
    "to",
    "spare",
    "for",
    "tomorrow",
]

ANSWER_TOKENS = (8, 40)
"""An unconstrained answer is this many tokens long (inclusive range, drawn per answer)."""

_MAX_DEPTH = 6
"""Below this depth, recursive schemas get only what they require."""


def answer_text(rng: random.Random, limit: int | None) -> tuple[str, str]:
    """Prose of a drawn length, cut at `limit` tokens: (text, finish_reason)."""
    wanted = rng.randint(*ANSWER_TOKENS)
    budget = wanted if limit is None else min(wanted, limit)
    words: list[str] = []
    while True:
        word = rng.choice(_WORDS)
        candidate = " ".join([*words, word])
        if text_tokens(candidate) > budget:
            break
        words.append(word)
    text = " ".join(words)
    if not text:  # a budget too small for any whole word: a fragment of one
        text = rng.choice(_WORDS)[: budget * 4]
    else:
        text = text[0].upper() + text[1:] + "."
        if text_tokens(text) > budget:
            text = text[:-1]
    return text, ("length" if budget < wanted else "stop")


def new_id(rng: random.Random, prefix: str) -> str:
    return f"{prefix}{uuid.UUID(int=rng.getrandbits(128)).hex}"


def _last_user_text(messages: Sequence[Mapping[str, Any]]) -> str | None:
    if not messages or messages[-1].get("role") != "user":
        return None
    content = messages[-1].get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part["text"]
            for part in content
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        )
    return ""


def tool_to_call(
    tools: Sequence[Mapping[str, Any]] | None,
    tool_choice: object,
    messages: Sequence[Mapping[str, Any]],
) -> Mapping[str, Any] | None:
    """The function definition to call, or None to answer in prose.

    A named `tool_choice` calls that tool; `"required"` calls the first tool the
    last user message mentions by name, else the first tool. Under `"auto"`
    (the default) the model calls a tool only when the last message is the
    user's and names it, so an agent loop ends once tool results come back.
    """
    functions: list[Mapping[str, Any]] = [
        tool["function"] for tool in tools or () if tool.get("type") == "function"
    ]
    if not functions or tool_choice == "none":
        return None
    if isinstance(tool_choice, Mapping):
        name = tool_choice["function"]["name"]
        return next(function for function in functions if function["name"] == name)
    text = _last_user_text(messages)
    mentioned = next(
        (f for f in functions if text is not None and f["name"] in text),
        None,
    )
    if tool_choice == "required":
        return mentioned or functions[0]
    return mentioned


def schema_instance(schema: object, rng: random.Random) -> Any:
    """A value that validates against the JSON schema `schema` (`$ref` into `$defs` included).

    Objects get every property (strict structured output requires them all),
    numbers respect their bounds, strings their length and common formats, and
    the first non-null alternative of `anyOf`/`oneOf` is taken. `pattern` is not
    honoured.
    """
    root = schema if isinstance(schema, Mapping) else {}
    return _instance(schema, rng, root, 0)


def _resolve(ref: str, root: Mapping[str, Any]) -> object:
    node: object = root
    for part in ref.removeprefix("#/").split("/"):
        if not isinstance(node, Mapping) or part not in node:
            raise ValueError(f"unresolvable $ref {ref!r}")
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _instance(schema: object, rng: random.Random, root: Mapping[str, Any], depth: int) -> Any:
    if not isinstance(schema, Mapping):
        return rng.choice(_WORDS)  # `true` or an empty schema: anything goes
    if "$ref" in schema:
        return _instance(_resolve(schema["$ref"], root), rng, root, depth)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return rng.choice(list(schema["enum"]))
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            options = list(schema[keyword])
            usable = [
                o for o in options if not (isinstance(o, Mapping) and o.get("type") == "null")
            ]
            return _instance((usable or options)[0], rng, root, depth)
    if "allOf" in schema:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            resolved = _resolve(part["$ref"], root) if "$ref" in part else part
            if isinstance(resolved, Mapping):
                merged.update(resolved)
        return _instance(merged, rng, root, depth)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        return _object(schema, rng, root, depth)
    if kind == "array":
        return _array(schema, rng, root, depth)
    if kind in ("integer", "number"):
        return _number(schema, rng, integer=kind == "integer")
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return _string(schema, rng)


def _object(
    schema: Mapping[str, Any], rng: random.Random, root: Mapping[str, Any], depth: int
) -> dict[str, Any]:
    properties: Mapping[str, Any] = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    names = list(properties) if depth < _MAX_DEPTH else [n for n in properties if n in required]
    value = {name: _instance(properties[name], rng, root, depth + 1) for name in names}
    for name in required - set(value):
        value[name] = rng.choice(_WORDS)
    return value


def _array(
    schema: Mapping[str, Any], rng: random.Random, root: Mapping[str, Any], depth: int
) -> list[Any]:
    prefix = list(schema.get("prefixItems") or ())
    low = int(schema.get("minItems", 0))
    high = int(schema.get("maxItems", max(low, 2)))
    count = low if depth >= _MAX_DEPTH else rng.randint(min(max(low, 1), high), high)
    if schema.get("items") is False:  # a closed tuple: only its prefix
        count = min(count, len(prefix))
    items = [_instance(item, rng, root, depth + 1) for item in prefix[:count]]
    for _ in range(count - len(items)):
        item = _instance(schema.get("items", {}), rng, root, depth + 1)
        if schema.get("uniqueItems") and item in items:
            break  # fewer, distinct items rather than a duplicate
        items.append(item)
    return items


def _number(schema: Mapping[str, Any], rng: random.Random, *, integer: bool) -> int | float:
    low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
    high = schema.get("maximum", schema.get("exclusiveMaximum", max(low, 0) + 100))
    if integer:
        step = 1 if "exclusiveMinimum" in schema else 0
        top = high - 1 if "exclusiveMaximum" in schema else high
        value: int | float = rng.randint(int(low) + step, max(int(top), int(low) + step))
    else:
        value = round(rng.uniform(float(low), float(high)), 2)
        if value in (schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")):
            value = (float(low) + float(high)) / 2
    return value


_FORMATS = {
    "date-time": "2024-05-01T12:00:00Z",
    "date": "2024-05-01",
    "time": "12:00:00",
    "email": "someone@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "duration": "P1D",
}


def _string(schema: Mapping[str, Any], rng: random.Random) -> str:
    fmt = schema.get("format")
    if fmt == "uuid":
        return str(uuid.UUID(int=rng.getrandbits(128)))
    if fmt in _FORMATS:
        return _FORMATS[fmt]
    low = int(schema.get("minLength", 1))
    high = int(schema.get("maxLength", max(low, 24)))
    text = " ".join(rng.choice(_WORDS) for _ in range(3))
    while len(text) < low:
        text += " " + rng.choice(_WORDS)
    return text[:high]
