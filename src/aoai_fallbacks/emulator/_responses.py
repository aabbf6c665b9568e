"""The Responses API's request, validated and translated into the chat request the model answers.

A Responses call is a chat turn in another dress: `instructions` is a system
message, `input` the user's messages (or earlier items: function calls and
their outputs), `max_output_tokens` the completion budget, `text.format` the
response format and the flat function tools the chat tools. Translating it
lets one set of checks, one token estimate and one answer generator serve
both APIs, as one model serves both on Azure. A `previous_response_id`
continues the conversation the resource stored for it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aoai_fallbacks.emulator._content import new_id
from aoai_fallbacks.emulator._request import (
    MAX_TOKENS,
    ChatRequest,
    InvalidRequest,
    body_object,
    integer,
    optional,
    parse_chat_request,
)
from aoai_fallbacks.emulator._store import StoredResponse

MIN_OUTPUT_TOKENS = 16
"""The smallest `max_output_tokens` the service accepts."""
_PART_TYPES = {
    "input_text": "text",
    "output_text": "text",
    "refusal": "refusal",
    "input_image": "image_url",
    "input_file": "file",
}
"""Responses content part types, and the chat part each becomes."""
_RENAMED = (
    ("messages", "input"),
    ("max_tokens", "max_output_tokens"),
    ("response_format.json_schema", "text.format"),
    ("response_format", "text.format"),
    (".function.", "."),
)
"""Chat parameter names in a refusal, and what the Responses API calls them."""


class PreviousResponseNotFound(Exception):
    def __init__(self, response_id: str) -> None:
        super().__init__(response_id)
        self.response_id = response_id


@dataclass(frozen=True)
class ResponsesRequest:
    body: dict[str, Any]
    chat: ChatRequest
    """What the model is asked, as a chat request (n = 1)."""
    input_items: list[dict[str, Any]]
    """This turn's input, as `input_items` lists it: each with an id."""
    conversation: list[dict[str, Any]]
    """Earlier turns and this input as chat messages, without the instructions."""
    store: bool
    background: bool


def _invalid(message: str, param: str, code: str = "invalid_value") -> InvalidRequest:
    return InvalidRequest(message, param=param, code=code)


def _part(part: object, where: str) -> dict[str, Any]:
    if not isinstance(part, dict):
        raise _invalid(f"Invalid '{where}': expected an object.", where, "invalid_type")
    kind = part.get("type")
    if kind not in _PART_TYPES:
        raise _invalid(
            f"Invalid value: {kind!r}. Supported values are: "
            + ", ".join(f"'{name}'" for name in _PART_TYPES)
            + ".",
            f"{where}.type",
        )
    chat_kind = _PART_TYPES[kind]
    if chat_kind == "text":
        return {"type": "text", "text": part.get("text")}
    if chat_kind == "refusal":
        return {"type": "refusal", "refusal": part.get("refusal")}
    if chat_kind == "image_url":
        return {"type": "image_url", "image_url": {"url": part.get("image_url") or ""}}
    return {"type": "file", "file": {k: v for k, v in part.items() if k != "type"}}


def _message(item: dict[str, Any], where: str) -> dict[str, Any]:
    """A message item as a chat message."""
    content = item.get("content")
    if isinstance(content, list):
        content = [_part(part, f"{where}.content[{i}]") for i, part in enumerate(content)]
    role = item.get("role")
    return {"role": role, "content": content}


def _listed_message(item: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A message item as `input_items` lists it: with an id, a status and content parts."""
    content = item.get("content")
    if isinstance(content, str):
        content = [
            {
                "type": "output_text" if item.get("role") == "assistant" else "input_text",
                "text": content,
            }
        ]
    return {
        "id": item.get("id") or new_id(rng, "msg_"),
        "type": "message",
        "role": item.get("role"),
        "status": "completed",
        "content": content,
    }


def _item(item: object, where: str, rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]]:
    """One input item: (the chat message it becomes, the item as listed)."""
    if not isinstance(item, dict):
        raise _invalid(f"Invalid '{where}': expected an object.", where, "invalid_type")
    kind = item.get("type", "message")
    if kind == "message":
        return _message(item, where), _listed_message(item, rng)
    listed = {"id": item.get("id") or new_id(rng, "fc_"), **item, "status": "completed"}
    if kind == "function_call":
        call = {
            "id": item.get("call_id"),
            "type": "function",
            "function": {"name": item.get("name"), "arguments": item.get("arguments")},
        }
        return {"role": "assistant", "content": None, "tool_calls": [call]}, listed
    if kind == "function_call_output":
        output = item.get("output")
        text = output if isinstance(output, str) else json.dumps(output)
        return {"role": "tool", "tool_call_id": item.get("call_id"), "content": text}, listed
    raise _invalid(
        f"Invalid value: {kind!r}. Supported values are: 'message', 'function_call' and "
        "'function_call_output'.",
        f"{where}.type",
    )


def _input(
    body: dict[str, Any], rng: random.Random
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if "input" not in body:
        raise _invalid(
            "Missing required parameter: 'input'.", "input", "missing_required_parameter"
        )
    given = body["input"]
    if isinstance(given, str):
        given = [{"role": "user", "content": given}]
    if not isinstance(given, list):
        raise _invalid(
            "Invalid type for 'input': expected a string or an array of input items.",
            "input",
            "invalid_type",
        )
    pairs = [_item(item, f"input[{i}]", rng) for i, item in enumerate(given)]
    return [message for message, _ in pairs], [listed for _, listed in pairs]


def _tool(tool: object, where: str) -> object:
    """A flat function tool as a chat tool; anything else is left for the chat checks."""
    if isinstance(tool, dict) and tool.get("type") == "function":
        function = {k: v for k, v in tool.items() if k in ("name", "description", "parameters")}
        return {"type": "function", "function": function}
    raise _invalid(f"Invalid '{where}': the emulator serves function tools only.", where)


def _tool_choice(choice: object) -> object:
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return choice


def _response_format(text: object) -> object:
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return fmt
    spec = {k: v for k, v in fmt.items() if k in ("name", "schema", "strict")}
    return {"type": "json_schema", "json_schema": spec}


def _renamed(invalid: InvalidRequest) -> InvalidRequest:
    """A chat check's refusal, naming the Responses API's parameters."""
    message, param = invalid.message, invalid.param
    for chat, responses in _RENAMED:
        message = message.replace(chat, responses)
        param = param.replace(chat, responses) if param is not None else None
    return InvalidRequest(message, param=param, code=invalid.code)


def parse_responses_request(
    body: object,
    rng: random.Random,
    previous: Callable[[str], StoredResponse | None],
) -> ResponsesRequest:
    """Check `body` (decoded JSON) and translate it, or raise `InvalidRequest` (or
    `PreviousResponseNotFound` when `previous` does not know its `previous_response_id`)."""
    body = body_object(body)
    instructions = optional(body, "instructions", str)
    max_output_tokens = integer(body, "max_output_tokens", MIN_OUTPUT_TOKENS, MAX_TOKENS)
    store = optional(body, "store", bool)
    background = bool(optional(body, "background", bool))
    if background and store is False:
        raise _invalid("Background responses must be stored: set 'store' to true.", "background")
    earlier: list[dict[str, Any]] = []
    previous_id = optional(body, "previous_response_id", str)
    if previous_id is not None:
        stored = previous(previous_id)
        if stored is None:
            raise PreviousResponseNotFound(previous_id)
        earlier = stored.conversation
    messages, input_items = _input(body, rng)
    tools = optional(body, "tools", list) or []
    chat_body: dict[str, Any] = {
        "messages": [
            *([{"role": "system", "content": instructions}] if instructions else []),
            *earlier,
            *messages,
        ],
        "max_tokens": max_output_tokens,
        "temperature": body.get("temperature"),
        "top_p": body.get("top_p"),
        "stream": body.get("stream"),
        "tools": [_tool(tool, f"tools[{i}]") for i, tool in enumerate(tools)] or None,
        "tool_choice": _tool_choice(body.get("tool_choice")) if tools else None,
        "response_format": _response_format(optional(body, "text", dict)),
    }
    try:
        chat = parse_chat_request({k: v for k, v in chat_body.items() if v is not None})
    except InvalidRequest as invalid:
        raise _renamed(invalid) from None
    return ResponsesRequest(
        body=body,
        chat=chat,
        input_items=input_items,
        conversation=[*earlier, *messages],
        store=store is not False,
        background=background,
    )
