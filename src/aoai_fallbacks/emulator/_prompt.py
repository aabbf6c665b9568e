"""What a prompt hands the model: the user's request, and the values and names it mentions.

A model asked "What is magic_function(3)?" passes 3, not a number of its
own; asked to create a customer named '你好啊集团', it writes that name; asked
about the weather with a ``get_weather`` tool at hand, it calls that tool;
asked for JSON with 'setup' and 'punchline' keys, it writes those keys. Code
that checks what a model made of its prompt (an agent's tool loop, LangChain's
standard tests) needs the emulator to do the same. Nothing here is random:
the same prompt always offers the same things, in the order it mentions them.

A model reads the whole prompt; the emulator reads the first `READ`
characters of each message it looks at, and only when the answer needs it,
so that a prompt of megabytes costs its event loop no more than a short one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

_QUOTED = re.compile(
    r"(?<!\w)'([^'\n]{1,200})'(?!\w)"
    r'|"([^"\n]{1,200})"'
    r"|\u201c([^\u201d\n]{1,200})\u201d"  # curly double quotes
    r"|\u2018([^\u2019\n]{1,200})\u2019"  # curly single quotes
    r"|`([^`\n]{1,200})`"
    r"|「([^」\n]{1,200})」"
)
"""A phrase in quotes; a single quote must stand apart from words ("don't" quotes nothing)."""
_NUMBER = re.compile(r"(?<![\w.])-?\d{1,15}(?:\.\d{1,15})?(?!\.?\w)")
"""A number standing alone, "3", "-2.5" or the "4" ending a sentence, but not the 4 of
"gpt-4o"; short enough to be a float that converts back and forth."""
_WORD = re.compile(r"[^\W_](?:[\w'\u2019-]*\w)?")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
"""A quoted phrase that can be a JSON key the prompt asks for."""
_SENTENCE_MARKS = frozenset(".!?:;")
_NAME_PART = re.compile(r"[A-Z][a-z0-9]*|[a-z0-9]+")
_GENERIC = frozenset(
    {"get", "set", "fetch", "find", "make", "create", "run", "call", "use", "tool", "function"}
    | {"func", "api", "the", "and", "for", "with", "from", "args", "arg"}
)
"""Words of a tool's name that say nothing about what the tool is for."""

_T = TypeVar("_T")

READ = 20_000
"""Characters of a message read for what it mentions: more than any instruction needs."""


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a message: its content, or the text of its content parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part["text"]
            for part in content
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        )
    return ""


def _quoted(text: str) -> list[str]:
    return [next(group for group in match.groups() if group) for match in _QUOTED.finditer(text)]


def _proper_names(text: str) -> list[str]:
    """Runs of capitalised words that do not merely start a sentence: "San Francisco, CA",
    "Hello Group", but not the "What" of "What is...". One pass over the words."""
    names: list[str] = []
    run = ""
    end = 0
    for match in _WORD.finditer(text):
        between = text[end : match.start()].strip()
        starts_sentence = end == 0 or bool(_SENTENCE_MARKS & set(between))
        word = match.group()
        if word[0].isupper() and not starts_sentence:
            if run and between in ("", ","):
                run += f"{between} {word}"
            else:
                if run:
                    names.append(run)
                run = word
        elif run:
            names.append(run)
            run = ""
        end = match.end()
    return [*names, run] if run else names


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


@dataclass(frozen=True)
class Prompt:
    """What the messages of a request ask for and mention, read once per request, and only
    as far as an answer needs (a prose answer reads nothing)."""

    asks: str | None
    """The last message's text if it is the user's: a turn a tool call can answer (after a
    tool's result comes back, a model answers in prose)."""
    request: str
    """The start of the latest user message ("" if none): where an answer's values come from."""
    instructions: str
    """The start of the system and developer messages and of `request`: where the format of
    an answer is asked for."""

    @classmethod
    def of(cls, messages: Sequence[Mapping[str, Any]]) -> Prompt:
        request = next((m for m in reversed(messages) if m.get("role") == "user"), None)
        text = "" if request is None else message_text(request)
        system = [message_text(m) for m in messages if m.get("role") in ("system", "developer")]
        return cls(
            asks=text if messages and messages[-1] is request else None,
            request=text[:READ],
            instructions="\n".join(part[:READ] for part in [*system, text]),
        )

    @cached_property
    def keys(self) -> tuple[str, ...]:
        """The quoted words of the instructions that can be JSON keys, once each ("with
        'setup' and 'punchline' keys")."""
        return tuple(dict.fromkeys(p for p in _quoted(self.instructions) if _KEY.fullmatch(p)))

    @cached_property
    def _numbers(self) -> tuple[int | float, ...]:
        return tuple(
            float(m.group()) if "." in m.group() else int(m.group())
            for m in _NUMBER.finditer(self.request)
        )

    @cached_property
    def _phrases(self) -> tuple[str, ...]:
        return (*_quoted(self.request), *_proper_names(self.request))

    @cached_property
    def _words(self) -> frozenset[str]:
        return frozenset(_stem(word.lower()) for word in _WORD.findall(self.request))

    def mentions(self) -> Mentions:
        """A fresh pool of this prompt's values, for one answer to take from."""
        return Mentions(list(self._numbers), list(self._phrases), self._words)

    def relevance(self, name: str) -> int:
        """How many telling words of a tool's name (``get_weather``: "weather") the latest
        user turn uses; 0 if the last message is not the user's."""
        if self.asks is None:
            return 0
        telling = {
            _stem(part.lower())
            for part in _NAME_PART.findall(name)
            if len(part) > 2 and part.lower() not in _GENERIC
        }
        return len(telling & self._words)


class Mentions:
    """The values a prompt offers one answer, each taken at most once, in the prompt's order.

    Numbers for numeric values; for strings, the quoted phrases, then the
    proper names. A value the schema would refuse (out of bounds, too long)
    is passed over and stays for a later one.
    """

    def __init__(
        self, numbers: list[int | float], phrases: list[str], words: frozenset[str]
    ) -> None:
        self.numbers = numbers
        self.phrases = phrases
        self.words = words

    def take_number(self, fits: Callable[[int | float], bool]) -> int | float | None:
        return _take(self.numbers, fits)

    def take_phrase(self, fits: Callable[[str], bool]) -> str | None:
        return _take(self.phrases, fits)

    def named_option(self, options: Sequence[object]) -> object | None:
        """The first one-word string of `options` (an ``enum``) the prompt uses as a word."""
        return next(
            (o for o in options if isinstance(o, str) and _stem(o.lower()) in self.words), None
        )


def _take(values: list[_T], fits: Callable[[_T], bool]) -> _T | None:
    for index, value in enumerate(values):
        if fits(value):
            return values.pop(index)
    return None
