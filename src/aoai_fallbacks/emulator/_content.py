"""Deterministic answers: prose, tool calls, and JSON that validates against a given schema.

A test must be able to predict and repeat what the emulator says, so every
choice is drawn from a `random.Random` seeded by the emulator's seed and the
request. The answers need not be wise, but they are what a model would make
of the prompt where that is plain (`_prompt`): a tool the prompt is about is
called, with the numbers and names the prompt gives as its arguments where
the schema accepts them; JSON mode writes the keys the prompt asks for.
Everything else is drawn: the SDKs and LangChain parse it, `bind_tools` gets
arguments its tool's schema accepts, and `with_structured_output` gets an
object its schema (and pydantic) accept.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aoai_fallbacks.emulator._prompt import Mentions, Prompt
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


_ALTERNATIVES = sorted({word[:CHARS_PER_TOKEN] for word in _WORDS} | {f" {w[:3]}" for w in _WORDS})
"""Tokens a model might have written instead of the one it did, for `top_logprobs`."""


def token_logprobs(tokens: Sequence[str], rng: random.Random, top: int) -> list[dict[str, Any]]:
    """Each token's log probability, with the `top` most likely tokens at its place (itself
    first), as the service lists them. Mostly confident, as a model's answers are."""
    entries = []
    for token in tokens:
        logprob = round(-2.0 * rng.random() ** 3, 6)
        likely = [{"token": token, "logprob": logprob, "bytes": list(token.encode())}]
        for other in rng.sample([t for t in _ALTERNATIVES if t != token], max(top - 1, 0)):
            logprob = round(logprob - rng.uniform(0.5, 3.0), 6)
            likely.append({"token": other, "logprob": logprob, "bytes": list(other.encode())})
        entries.append({**likely[0], "top_logprobs": likely[:top]})
    return entries


def new_id(rng: random.Random, prefix: str) -> str:
    return f"{prefix}{uuid.UUID(int=rng.getrandbits(128)).hex}"


def tool_to_call(
    functions: Sequence[Function], tool_choice: object, prompt: Prompt
) -> Function | None:
    """The function to call, or None to answer in prose.

    A named `tool_choice` calls that tool. Otherwise the model looks at the
    last message, if it is the user's: the first tool it names, else the tool
    whose name shares the most telling words with it ("the weather in Paris":
    ``get_weather``). `"required"` calls that tool, else the first; `"auto"`
    (the default) calls it only if there is one, so prose answers a prompt
    about nothing the tools do, and an agent loop ends once tool results come
    back.
    """
    if not functions or tool_choice == "none":
        return None
    if isinstance(tool_choice, Mapping):
        name = tool_choice["function"]["name"]
        return next(function for function in functions if function.name == name)
    asks = prompt.asks
    chosen = next((f for f in functions if asks is not None and f.name in asks), None)
    if chosen is None:
        scores = [prompt.relevance(function.name) for function in functions]
        best = max(scores)
        chosen = functions[scores.index(best)] if best > 0 else None
    if tool_choice == "required":
        return chosen or functions[0]
    return chosen


def json_object(keys: Sequence[str], rng: random.Random, limit: int) -> tuple[str, str]:
    """A JSON object for ``response_format: json_object``: the keys the prompt names, each
    with a sentence, or ``{"answer": ...}`` when it names none. (text, finish_reason)"""
    if not keys:
        return within(json.dumps({"answer": answer_text(rng, limit)[0]}), limit)
    return within(json.dumps({key: answer_text(rng, None)[0] for key in keys}), limit)


def within(text: str, limit: int) -> tuple[str, str]:
    """`text` if it fits in `limit` tokens, else cut there: (text, finish_reason)."""
    if text_tokens(text) <= limit:
        return text, "stop"
    return text[: limit * CHARS_PER_TOKEN], "length"


def schema_answer(
    schema: Schema, rng: random.Random, limit: int, mentions: Mentions | None = None
) -> tuple[str, str]:
    """JSON text that validates against `schema`, cut at `limit` tokens: (text, finish_reason).

    The service's model stops at `max_tokens` whatever the schema asks for, so
    an answer too long for it ends mid-JSON with `finish_reason` "length". The
    generator stops writing once the limit is passed, so a schema asking for a
    million items costs no more than a short answer. Numbers, strings and
    ``enum`` choices come from `mentions` (what the prompt offers) while it has
    values the schema accepts, as a model fills in what it was told.
    """
    writer = _Writer(schema, rng, limit * CHARS_PER_TOKEN, mentions)
    return within(writer.value(schema.root, 0), limit)


class _Writer:
    """Writes one instance of a schema as JSON text, in `json.dumps`'s layout.

    Objects get every property (strict structured output requires them all),
    numbers respect their bounds, strings their length and common formats, and
    `anyOf`/`oneOf` take their first option that can be non-null. `pattern` is
    not honoured (so a string with one never takes a value from the prompt).
    From `_MAX_DEPTH` levels down only what the schema requires is written, and
    `check_schema` bounds how deep that goes. `room` counts the characters
    left before the limit; once it is spent, objects and arrays stop growing
    and close, so every value written costs characters and the work ends soon
    after the limit.
    """

    def __init__(
        self, schema: Schema, rng: random.Random, room: int, mentions: Mentions | None
    ) -> None:
        self.schema = schema
        self.rng = rng
        self.room = room
        self.mentions = mentions

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
            named = self.mentions.named_option(plain["enum"]) if self.mentions else None
            chosen = self.rng.choice(plain["enum"]) if named is None else named
            return self._spend(json.dumps(chosen))
        kind = kind_of(plain)
        if kind == "object":
            return self._object(plain, depth)
        if kind == "array":
            return self._array(plain, depth)
        if kind in ("integer", "number"):
            integer = kind == "integer"
            told = self.mentions.take_number(_fits(plain, integer)) if self.mentions else None
            if told is None:
                told = _number(plain, self.rng, integer=integer)
            return self._spend(json.dumps(int(told) if integer else told))
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
        if self.mentions and "format" not in plain and "pattern" not in plain:
            shortest, longest = plain.get("minLength", 0), plain.get("maxLength", math.inf)
            told = self.mentions.take_phrase(lambda phrase: shortest <= len(phrase) <= longest)
            if told is not None:
                return told
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


def _fits(plain: Mapping[str, Any], integer: bool) -> Callable[[int | float], bool]:
    """Whether a number the prompt offers is one the schema accepts."""

    def fits(value: int | float) -> bool:
        multiple = plain.get("multipleOf")
        return (
            (not integer or float(value).is_integer())
            and plain.get("minimum", -math.inf) <= value <= plain.get("maximum", math.inf)
            and plain.get("exclusiveMinimum", -math.inf) < value
            and value < plain.get("exclusiveMaximum", math.inf)
            and (multiple is None or _whole(value / multiple))
        )

    return fits


def _whole(ratio: float) -> bool:
    return math.isfinite(ratio) and math.isclose(ratio, round(ratio))


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
