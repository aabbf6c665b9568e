"""A Responses API answer: the Response object, and the named events of its stream.

Shapes follow what the openai SDK parses and its stream helper checks: every
output item keeps its id from `output_item.added` to `response.completed`,
text arrives as `output_text.delta` events in the word-sized pieces the chat
stream sends, and every event carries its `sequence_number`. An answer cut at
`max_output_tokens` is `incomplete`, as the service reports it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from typing import Any

from aoai_fallbacks.emulator._answer import Choice, pieces
from aoai_fallbacks.emulator._content import new_id
from aoai_fallbacks.emulator._responses import ResponsesRequest

_ECHOED = (
    "instructions",
    "max_output_tokens",
    "metadata",
    "previous_response_id",
    "temperature",
    "top_p",
    "user",
)
"""Request fields a Response repeats as they were sent (null when not)."""


def _output_item(choice: Choice, rng: random.Random) -> dict[str, Any]:
    status = "completed" if choice.finish_reason in ("stop", "tool_calls") else "incomplete"
    if choice.tool_call is not None:
        function = choice.tool_call["function"]
        return {
            "id": new_id(rng, "fc_"),
            "type": "function_call",
            "status": status,
            "call_id": choice.tool_call["id"],
            "name": function["name"],
            "arguments": function["arguments"],
        }
    return {
        "id": new_id(rng, "msg_"),
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [_text_part(choice.content or "")],
    }


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def response_body(
    request: ResponsesRequest,
    *,
    response_id: str,
    created: int,
    model: str,
    prompt_tokens: int,
    choice: Choice,
    rng: random.Random,
) -> dict[str, Any]:
    """The finished Response object."""
    item = _output_item(choice, rng)
    incomplete = item["status"] == "incomplete"
    body = request.body
    text = body.get("text") if isinstance(body.get("text"), dict) else None
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "completed_at": None if incomplete else created,
        "status": "incomplete" if incomplete else "completed",
        "background": request.background,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        **{field: body.get(field) for field in _ECHOED},
        "model": model,
        "output": [item],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "reasoning": {"effort": None, "summary": None},
        "store": request.store,
        "text": text or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "truncation": body.get("truncation", "disabled"),
        "usage": {
            "input_tokens": prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": choice.tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt_tokens + choice.tokens,
        },
    }


def stream_events(final: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The (type, event) pairs that stream `final`, a finished Response, in order."""
    sequence = iter(range(1 << 62))

    def event(kind: str, **fields: Any) -> tuple[str, dict[str, Any]]:
        return kind, {"type": kind, "sequence_number": next(sequence), **fields}

    started = {
        **final,
        "status": "in_progress",
        "completed_at": None,
        "incomplete_details": None,
        "output": [],
        "usage": None,
    }
    yield event("response.created", response=started)
    yield event("response.in_progress", response=started)
    for index, item in enumerate(final["output"]):
        where = {"item_id": item["id"], "output_index": index}
        if item["type"] == "function_call":
            yield event(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress", "arguments": ""},
            )
            for piece in pieces(item["arguments"]):
                yield event("response.function_call_arguments.delta", **where, delta=piece)
            yield event(
                "response.function_call_arguments.done",
                **where,
                name=item["name"],
                arguments=item["arguments"],
            )
        else:
            text = item["content"][0]["text"]
            yield event(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress", "content": []},
            )
            yield event(
                "response.content_part.added", **where, content_index=0, part=_text_part("")
            )
            for piece in pieces(text):
                yield event(
                    "response.output_text.delta",
                    **where,
                    content_index=0,
                    delta=piece,
                    logprobs=[],
                )
            yield event(
                "response.output_text.done", **where, content_index=0, text=text, logprobs=[]
            )
            yield event(
                "response.content_part.done", **where, content_index=0, part=_text_part(text)
            )
        yield event("response.output_item.done", output_index=index, item=item)
    yield event(f"response.{final['status']}", response=final)
