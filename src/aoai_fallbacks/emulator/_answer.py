"""Build a chat completion for a request: as one JSON body, or as the chunks of a stream.

The shapes follow Azure OpenAI's answers: `prompt_filter_results` on the
completion (and alone on a stream's first chunk), `content_filter_results` per
choice, `usage`, the stream's final usage chunk when
`stream_options.include_usage` asks for it, and each token's `logprobs` when
`logprobs` does. A `stop` sequence ends the content before it, as the model
stops there.

Tokens are the emulator's own (`_tokens`: about four characters), cut from
the word-sized pieces a stream sends, so each streamed piece carries the
log probabilities of exactly its tokens.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aoai_fallbacks._wire import filter_results
from aoai_fallbacks.emulator._content import (
    answer_text,
    json_object,
    new_id,
    schema_answer,
    token_logprobs,
    tool_to_call,
)
from aoai_fallbacks.emulator._prompt import Prompt
from aoai_fallbacks.emulator._request import ChatRequest
from aoai_fallbacks.emulator._tokens import CHARS_PER_TOKEN, text_tokens

SYSTEM_FINGERPRINT = "fp_emulator"


@dataclass(frozen=True)
class Choice:
    content: str | None
    tool_call: dict[str, Any] | None
    finish_reason: str
    logprobs: list[dict[str, Any]] | None = None
    """One entry per token of `content`, when the request asked for them."""

    @property
    def tokens(self) -> int:
        if self.tool_call is not None:
            function = self.tool_call["function"]
            return text_tokens(function["name"]) + text_tokens(function["arguments"])
        return text_tokens(self.content or "")


def choose(request: ChatRequest, prompt: Prompt, rng: random.Random, limit: int) -> Choice:
    """One choice's content, at most `limit` tokens: a tool call, JSON for a response
    format, or prose; ended at a stop sequence; with its tokens' log probabilities if asked."""
    function = tool_to_call(request.functions, request.tool_choice, prompt)
    if function is not None:
        arguments, finish_reason = schema_answer(
            function.parameters, rng, limit, prompt.mentions()
        )
        call = {
            "id": new_id(rng, "call_")[:29],
            "type": "function",
            "function": {"name": function.name, "arguments": arguments},
        }
        return Choice(None, call, "tool_calls" if finish_reason == "stop" else finish_reason)
    if request.response_schema is not None:
        text, finish_reason = schema_answer(request.response_schema, rng, limit, prompt.mentions())
    elif request.response_format == "json_object":
        text, finish_reason = json_object(prompt.keys, rng, limit)
    else:
        text, finish_reason = answer_text(rng, limit)
    found = [at for at in (text.find(stop) for stop in request.stop if stop) if at >= 0]
    if found:
        text, finish_reason = text[: min(found)], "stop"
    if not request.logprobs:
        return Choice(text, None, finish_reason)
    return Choice(
        text, None, finish_reason, token_logprobs(_tokens(text), rng, request.top_logprobs)
    )


def _tokens(text: str) -> list[str]:
    """The tokens of `text`: each streamed piece cut every `CHARS_PER_TOKEN` characters."""
    return [
        piece[start : start + CHARS_PER_TOKEN]
        for piece in pieces(text)
        for start in range(0, len(piece), CHARS_PER_TOKEN)
    ]


def _prompt_filter() -> list[dict[str, Any]]:
    return [{"prompt_index": 0, "content_filter_results": filter_results()}]


def _usage(prompt_tokens: int, choices: list[Choice]) -> dict[str, int]:
    completion = sum(choice.tokens for choice in choices)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
    }


def _message(choice: Choice) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": choice.content, "refusal": None}
    if choice.tool_call is not None:
        message["tool_calls"] = [choice.tool_call]
    return message


def _logprobs(entries: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    return None if entries is None else {"content": entries, "refusal": None}


def completion(
    *, completion_id: str, created: int, model: str, prompt_tokens: int, choices: list[Choice]
) -> dict[str, Any]:
    """The body of a non-streamed answer."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "prompt_filter_results": _prompt_filter(),
        "choices": [
            {
                "index": index,
                "finish_reason": choice.finish_reason,
                "logprobs": _logprobs(choice.logprobs),
                "message": _message(choice),
                "content_filter_results": filter_results(),
            }
            for index, choice in enumerate(choices)
        ],
        "usage": _usage(prompt_tokens, choices),
    }


def pieces(text: str) -> Iterator[str]:
    """Split text into word-sized deltas, each keeping its leading space."""
    start = 0
    for position in range(1, len(text)):
        if text[position] == " ":
            yield text[start:position]
            start = position
    yield text[start:]


def stream_chunks(
    *,
    completion_id: str,
    created: int,
    model: str,
    prompt_tokens: int,
    choices: list[Choice],
    include_usage: bool,
) -> Iterator[dict[str, Any]]:
    """The chunks of a streamed answer, in order, before `data: [DONE]`."""
    yield {
        "id": "",
        "object": "",
        "created": 0,
        "model": "",
        "choices": [],
        "prompt_filter_results": _prompt_filter(),
    }
    base: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }
    if include_usage:
        base["usage"] = None

    def chunk(
        index: int,
        delta: dict[str, Any],
        finish_reason: str | None = None,
        logprobs: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "index": index,
            "delta": delta,
            "finish_reason": finish_reason,
            "logprobs": _logprobs(logprobs),
        }
        if finish_reason is None and delta.get("content"):
            entry["content_filter_results"] = filter_results()
        return {**base, "choices": [entry]}

    for index, choice in enumerate(choices):
        if choice.tool_call is not None:
            function = choice.tool_call["function"]
            yield chunk(
                index,
                {
                    "role": "assistant",
                    "content": None,
                    "refusal": None,
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": choice.tool_call["id"],
                            "type": "function",
                            "function": {"name": function["name"], "arguments": ""},
                        }
                    ],
                },
            )
            for piece in pieces(function["arguments"]):
                yield chunk(
                    index, {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
                )
        else:
            yield chunk(index, {"role": "assistant", "content": "", "refusal": None})
            told = 0  # tokens whose log probabilities went out with earlier pieces
            for piece in pieces(choice.content or ""):
                tokens = len(_tokens(piece))
                logprobs = (
                    None if choice.logprobs is None else choice.logprobs[told : told + tokens]
                )
                yield chunk(index, {"content": piece}, None, logprobs)
                told += tokens
        yield chunk(index, {}, choice.finish_reason)
    if include_usage:
        yield {**base, "choices": [], "usage": _usage(prompt_tokens, choices)}
