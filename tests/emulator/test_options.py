"""`stop` and `logprobs`: the answer ends before a stop sequence, and carries its tokens' log
probabilities when asked, streamed or not, as Azure's does."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aoai_fallbacks.emulator import Resource

from ._support import DEPLOYMENT, HELLO, client, post

pytestmark = pytest.mark.integration

SEEDED: dict[str, Any] = {"model": DEPLOYMENT, "messages": HELLO, "seed": 7, "max_tokens": 60}
"""The same answer every time: a stop sequence taken from it is sure to be found."""


def _text(resource: Resource, **options: Any) -> tuple[str, str]:
    choice = client(resource).chat.completions.create(**SEEDED, **options).choices[0]
    return choice.message.content or "", choice.finish_reason


def _streamed(resource: Resource, **options: Any) -> list[Any]:
    stream = client(resource).chat.completions.create(**SEEDED, stream=True, **options)
    return [chunk for chunk in stream if chunk.choices]


def test_the_answer_ends_before_the_first_stop_sequence(resource: Resource) -> None:
    whole, _ = _text(resource)
    words = whole.split()
    stop = [words[4], f" {words[2]}"]  # the earliest found wins, whichever is listed first

    cut, finish_reason = _text(resource, stop=stop)
    streamed = "".join(c.choices[0].delta.content or "" for c in _streamed(resource, stop=stop))

    assert cut == whole[: whole.index(f" {words[2]}")]
    assert finish_reason == "stop"
    assert streamed == cut
    assert _text(resource, stop="never said") == (whole, "stop")


@pytest.mark.parametrize(
    ("stop", "param"),
    [
        ({"a": 1}, "stop"),
        (["a", "b", "c", "d", "e"], "stop"),
        (["a", 1], "stop[1]"),
    ],
)
def test_a_malformed_stop_is_400_naming_it(resource: Resource, stop: object, param: str) -> None:
    response = post(resource, json.dumps({"messages": HELLO, "stop": stop}).encode())

    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_log_probabilities_cover_the_answer_token_by_token(resource: Resource) -> None:
    choice = (
        client(resource)
        .chat.completions.create(**SEEDED, logprobs=True, top_logprobs=3)
        .choices[0]
    )
    assert choice.logprobs is not None
    tokens = choice.logprobs.content or []

    assert "".join(t.token for t in tokens) == choice.message.content
    for token in tokens:
        assert token.logprob <= 0
        assert bytes(token.bytes or []) == token.token.encode()
        assert token.top_logprobs[0].token == token.token
        likely = [t.logprob for t in token.top_logprobs]
        assert len(likely) == 3
        assert likely == sorted(likely, reverse=True)
        assert len({t.token for t in token.top_logprobs}) == 3


def test_each_streamed_piece_carries_the_log_probabilities_of_its_tokens(
    resource: Resource,
) -> None:
    unasked = _streamed(resource)
    chunks = _streamed(resource, logprobs=True)
    pieces = [c.choices[0] for c in chunks if c.choices[0].delta.content]

    assert all(c.choices[0].logprobs is None for c in unasked)
    for piece in pieces:
        assert piece.logprobs is not None
        told = "".join(t.token for t in piece.logprobs.content or [])
        assert told == piece.delta.content
    assert "".join(p.delta.content or "" for p in pieces) == _text(resource)[0]


def test_no_log_probabilities_unless_asked(resource: Resource) -> None:
    assert client(resource).chat.completions.create(**SEEDED).choices[0].logprobs is None


@pytest.mark.parametrize(
    "options",
    [{"top_logprobs": 2}, {"logprobs": True, "top_logprobs": 21}, {"logprobs": "yes"}],
)
def test_malformed_logprobs_options_are_400(resource: Resource, options: dict[str, Any]) -> None:
    response = post(resource, json.dumps({"messages": HELLO, **options}).encode())

    assert response.status_code == 400
    assert response.json()["error"]["param"] in options
