"""Deterministic answers: prose, tool calls, and JSON that validates against a given schema.

A test must be able to predict and repeat what the emulator says, so every
choice is drawn from a `random.Random` seeded by the emulator's seed and the
request. The answers only need to be well formed, not wise: the SDKs and
LangChain parse them, `bind_tools` gets arguments its tool's schema accepts,
and `with_structured_output` gets an object its schema (and pydantic) accept.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from aoai_fallbacks.emulator._request import Function
from aoai_fallbacks.emulator._schema import Schema, kind_of
from aoai_fallbacks.emulator._tokens import CHARS_PER_TOKEN, text_tokens

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
_MANY_ITEMS = 8
"""An array gets at most this many items beyond its `minItems`, whatever its `maxItems`."""


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
    functions: Sequence[Function], tool_choice: object, messages: Sequence[Mapping[str, Any]]
) -> Function | None:
    """The function to call, or None to answer in prose.

    A named `tool_choice` calls that tool; `"required"` calls the first tool the
    last user message mentions by name, else the first tool. Under `"auto"`
    (the default) the model calls a tool only when the last message is the
    user's and names it, so an agent loop ends once tool results come back.
    """
    if not functions or tool_choice == "none":
        return None
    if isinstance(tool_choice, Mapping):
        name = tool_choice["function"]["name"]
        return next(function for function in functions if function.name == name)
    text = _last_user_text(messages)
    mentioned = next((f for f in functions if text is not None and f.name in text), None)
    if tool_choice == "required":
        return mentioned or functions[0]
    return mentioned


def within(text: str, limit: int) -> tuple[str, str]:
    """`text` if it fits in `limit` tokens, else cut there: (text, finish_reason)."""
    if text_tokens(text) <= limit:
        return text, "stop"
    return text[: limit * CHARS_PER_TOKEN], "length"


def schema_answer(schema: Schema, rng: random.Random, limit: int) -> tuple[str, str]:
    """JSON text that validates against `schema`, cut at `limit` tokens: (text, finish_reason).

    The service's model stops at `max_tokens` whatever the schema asks for, so
    an answer too long for it ends mid-JSON with `finish_reason` "length". The
    generator stops writing once the limit is passed, so a schema asking for a
    million items costs no more than a short answer.
    """
    return within(_Writer(schema, rng, limit * CHARS_PER_TOKEN).value(schema.root, 0), limit)


class _Writer:
    """Writes one instance of a schema as JSON text, in `json.dumps`'s layout.

    Objects get every property (strict structured output requires them all),
    numbers respect their bounds, strings their length and common formats, and
    `anyOf`/`oneOf` take their first option that can be non-null. `pattern` is
    not honoured. From `_MAX_DEPTH` levels down only what the schema requires is written,
    and `check_schema` bounds how deep that goes. `room` counts the characters
    left before the limit; once it is spent, objects and arrays stop growing
    and close, so every value written costs characters and the work ends soon
    after the limit.
    """

    def __init__(self, schema: Schema, rng: random.Random, room: int) -> None:
        self.schema = schema
        self.rng = rng
        self.room = room

    def _spend(self, text: str) -> str:
        self.room -= len(text)
        return text

    def value(self, node: object, depth: int) -> str:
        plain = self.schema.plain(node)
        if not isinstance(plain, Mapping):  # `true`, or `false` which nothing satisfies
            return self._spend(json.dumps(self.rng.choice(_WORDS)))
        if "const" in plain:
            return self._spend(json.dumps(plain["const"]))
        if "enum" in plain:
            return self._spend(json.dumps(self.rng.choice(plain["enum"])))
        kind = kind_of(plain)
        if kind == "object":
            return self._object(plain, depth)
        if kind == "array":
            return self._array(plain, depth)
        if kind in ("integer", "number"):
            return self._spend(json.dumps(_number(plain, self.rng, integer=kind == "integer")))
        if kind == "boolean":
            return self._spend("true" if self.rng.random() < 0.5 else "false")
        if kind == "null":
            return self._spend("null")
        return self._spend(json.dumps(self._string(plain)))

    def _object(self, plain: Mapping[str, Any], depth: int) -> str:
        properties: Mapping[str, Any] = plain.get("properties", {})
        required: list[str] = plain.get("required", [])
        names = (
            required
            if depth >= _MAX_DEPTH
            else [*properties, *(name for name in required if name not in properties)]
        )
        entries: list[str] = []
        self._spend("{}")
        for name in names:
            if self.room < 0:
                break
            key = self._spend(json.dumps(name) + ": ")
            entries.append(key + self.value(properties.get(name, True), depth + 1))
            self._spend(", " if len(entries) > 1 else "")
        return "{" + ", ".join(entries) + "}"

    def _array(self, plain: Mapping[str, Any], depth: int) -> str:
        prefix: list[object] = plain.get("prefixItems", [])
        low: int = plain.get("minItems", 0)
        high: int = min(plain.get("maxItems", max(low, 2)), max(low, _MANY_ITEMS))
        count = low if depth >= _MAX_DEPTH else self.rng.randint(min(max(low, 1), high), high)
        if plain.get("items") is False:  # a closed tuple: only its prefix
            count = min(count, len(prefix))
        items: list[str] = []
        written: set[str] = set()
        self._spend("[]")
        for index in range(count):
            if self.room < 0:
                break
            schema = prefix[index] if index < len(prefix) else plain.get("items", True)
            item = self.value(schema, depth + 1)
            if plain.get("uniqueItems") and item in written:
                self.room += len(item)
                break  # fewer, distinct items rather than a duplicate
            items.append(item)
            written.add(item)
            self._spend(", " if len(items) > 1 else "")
        return "[" + ", ".join(items) + "]"

    def _string(self, plain: Mapping[str, Any]) -> str:
        fmt = plain.get("format")
        if fmt == "uuid":
            return str(uuid.UUID(int=self.rng.getrandbits(128)))
        if fmt in _FORMATS:
            return _FORMATS[fmt]
        low: int = plain.get("minLength", 1)
        high: int = plain.get("maxLength", max(low, 24))
        text = " ".join(self.rng.choice(_WORDS) for _ in range(3))
        while len(text) < low and len(text) <= self.room:
            text += " " + self.rng.choice(_WORDS)
        return text[:high]


def _number(plain: Mapping[str, Any], rng: random.Random, *, integer: bool) -> int | float:
    """A number within the bounds (`check_schema` has made them finite and ordered)."""
    low = plain.get("minimum", plain.get("exclusiveMinimum"))
    high = plain.get("maximum", plain.get("exclusiveMaximum"))
    if low is None:
        low = 0 if high is None or high >= 0 else high - 100
    if high is None:
        high = max(low, 0) + 100
    if integer:
        first = math.floor(low) + 1 if "exclusiveMinimum" in plain else math.ceil(low)
        last = math.ceil(high) - 1 if "exclusiveMaximum" in plain else math.floor(high)
        return rng.randint(first, max(first, last))
    value = rng.uniform(float(low), float(high))
    rounded = round(value, 2)
    if low <= rounded <= high:
        value = rounded
    if value in (plain.get("exclusiveMinimum"), plain.get("exclusiveMaximum")):
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
