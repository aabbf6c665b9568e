"""Offline token estimates: about four characters a token, plus OpenAI's per-message overhead.

`tiktoken` downloads its encoding tables on first use, which fails without
network access, and the emulator must run anywhere. Azure charges a request on
arrival by an *estimate* anyway, so a documented approximation is faithful to
what matters here: longer prompts cost more, deterministically. The overheads
follow OpenAI's published counting recipe for chat models (3 tokens a message,
1 for a name, 3 to prime the reply).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3
TOKENS_PER_IMAGE = 85
"""A low-detail image costs a flat 85 tokens."""


def text_tokens(text: str) -> int:
    """Tokens in a piece of text: its length over four, rounded up."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _content_tokens(content: object) -> int:
    if isinstance(content, str):
        return text_tokens(content)
    if isinstance(content, list):
        total = 0
        for part in content:
            if not isinstance(part, Mapping):
                continue
            if part.get("type") == "image_url":
                total += TOKENS_PER_IMAGE
            elif isinstance(part.get("text"), str):
                total += text_tokens(part["text"])
        return total
    return 0


def _json_tokens(value: object) -> int:
    return text_tokens(json.dumps(value, separators=(",", ":"), sort_keys=True))


def prompt_tokens(body: Mapping[str, Any]) -> int:
    """Estimated prompt tokens of a (validated) chat-completions request body.

    Counts the messages, their names and tool calls, and the tool definitions
    and response schema, which the service also feeds to the model.
    """
    messages: Sequence[Mapping[str, Any]] = body.get("messages") or ()
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        total += TOKENS_PER_MESSAGE + _content_tokens(message.get("content"))
        if message.get("name"):
            total += TOKENS_PER_NAME + text_tokens(str(message["name"]))
        if message.get("tool_calls"):
            total += _json_tokens(message["tool_calls"])
    if body.get("tools"):
        total += _json_tokens(body["tools"])
    response_format = body.get("response_format")
    if isinstance(response_format, Mapping) and response_format.get("type") == "json_schema":
        total += _json_tokens(response_format.get("json_schema"))
    return total
