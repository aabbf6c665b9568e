"""Azure OpenAI's answers as they appear on the wire: error bodies, messages and header names.

Kept apart from the request handling so the exact texts clients match on (the
SDK's error classes, LangChain's fallbacks, the balancer's classifier) are in
one place and can be checked against Azure's documentation at a glance.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, Literal, get_args

REQUEST_ID = "x-request-id"
REMAINING_REQUESTS = "x-ratelimit-remaining-requests"
REMAINING_TOKENS = "x-ratelimit-remaining-tokens"
RESET_REQUESTS = "x-ratelimit-reset-requests"
RESET_TOKENS = "x-ratelimit-reset-tokens"
RETRY_AFTER = "retry-after"
RETRY_AFTER_MS = "retry-after-ms"
UNKNOWN_REMAINING = {REMAINING_REQUESTS: "-1", REMAINING_TOKENS: "-1"}
"""What some services send when they do not know the quota left."""

RetryAfter = Literal["ms", "seconds", "none"]
"""How a 429 says when to come back: `retry-after-ms` and `retry-after`, only
`retry-after` (whole seconds), or not at all."""
RETRY_AFTER_DIALECTS: tuple[RetryAfter, ...] = get_args(RetryAfter)
Remaining = Literal["exact", "unknown", "off"]
"""How answers report the quota left: the counts, `-1` for both, or no header."""
REMAINING_DIALECTS: tuple[Remaining, ...] = get_args(Remaining)

CONTENT_FILTER_TRIGGER = "EMULATOR_CONTENT_FILTER"
"""A prompt containing this phrase is refused with Azure's 400 `content_filter` answer."""

_UNAUTHORIZED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
    "provide a valid key for an active subscription and use a correct regional API "
    "endpoint for your resource."
)
_DEPLOYMENT_NOT_FOUND = (
    "The API deployment for this resource does not exist. If you created the deployment "
    "within the last 5 minutes, please wait a moment and try again."
)
_BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON.)"
)
_CONTENT_FILTERED = (
    "The response was filtered due to the prompt triggering Azure OpenAI's content "
    "management policy. Please modify your prompt and retry. To learn more about our "
    "content filtering policies please read our documentation: "
    "https://go.microsoft.com/fwlink/?linkid=2198766"
)
_SERVER_ERRORS = {
    500: ("InternalServerError", "The server had an error while processing your request."),
    503: (
        "ServiceUnavailable",
        "The service is temporarily unable to process your request. Please try again later.",
    ),
}
_FILTER_CATEGORIES = ("hate", "self_harm", "sexual", "violence")

TYPE_NAMES = {
    int: "an integer",
    float: "a decimal",
    str: "a string",
    bool: "a boolean",
    list: "an array",
    dict: "an object",
}
"""How the service names a JSON type in its messages ("expected an integer, ...")."""


def type_name(value: object) -> str:
    """The JSON type of a decoded value, as the service's messages name it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    for kind, name in TYPE_NAMES.items():
        if isinstance(value, kind):
            return name
    return type(value).__name__


def unauthorized() -> tuple[int, dict[str, Any]]:
    return 401, {"error": {"code": "401", "message": _UNAUTHORIZED}}


def resource_not_found() -> tuple[int, dict[str, Any]]:
    """What Azure answers for an unknown path, or a classic path without `api-version`."""
    return 404, {"error": {"code": "404", "message": "Resource not found"}}


def method_not_allowed(allowed: Sequence[str] = ()) -> tuple[int, dict[str, Any]]:
    """A known path asked with the wrong method; `allowed`, when given, is said too."""
    message = "Method not allowed" + (f": use {', '.join(allowed)}" if allowed else "")
    return 405, {"error": {"code": "405", "message": message}}


def deployment_not_found() -> tuple[int, dict[str, Any]]:
    return 404, {"error": {"code": "DeploymentNotFound", "message": _DEPLOYMENT_NOT_FOUND}}


def invalid_request(
    message: str, *, param: str | None = None, code: str | None = None
) -> tuple[int, dict[str, Any]]:
    return 400, {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": code,
        }
    }


def bad_json() -> tuple[int, dict[str, Any]]:
    return invalid_request(_BAD_JSON)


def too_large(limit: int) -> tuple[int, dict[str, Any]]:
    return 413, {
        "error": {
            "code": "RequestEntityTooLarge",
            "message": f"The request body is too large: the limit is {limit} bytes.",
        }
    }


def context_length_exceeded(
    window: int, prompt: int, completion: int | None
) -> tuple[int, dict[str, Any]]:
    """OpenAI's two wordings: the messages alone too long, or messages plus completion."""
    if completion is None or prompt > window:
        message = (
            f"This model's maximum context length is {window} tokens. However, your messages "
            f"resulted in {prompt} tokens. Please reduce the length of the messages."
        )
    else:
        message = (
            f"This model's maximum context length is {window} tokens. However, you requested "
            f"{prompt + completion} tokens ({prompt} in the messages, {completion} in the "
            "completion). Please reduce the length of the messages or completion."
        )
    return invalid_request(message, param="messages", code="context_length_exceeded")


def filter_results(*, filtered_category: str | None = None) -> dict[str, Any]:
    return {
        category: (
            {"filtered": True, "severity": "high"}
            if category == filtered_category
            else {"filtered": False, "severity": "safe"}
        )
        for category in _FILTER_CATEGORIES
    }


def content_filtered() -> tuple[int, dict[str, Any]]:
    return 400, {
        "error": {
            "message": _CONTENT_FILTERED,
            "type": None,
            "param": "prompt",
            "code": "content_filter",
            "status": 400,
            "innererror": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": filter_results(filtered_category="violence"),
            },
        }
    }


def server_error(status: int) -> tuple[int, dict[str, Any]]:
    code, message = _SERVER_ERRORS[status]
    return status, {"error": {"code": code, "message": message}}


Operation = Literal["chat", "embeddings", "responses"]
"""What a request asks of a deployment."""
_OPERATIONS: dict[Operation, tuple[str, str]] = {
    "chat": ("ChatCompletions_Create", "chatCompletion"),
    "embeddings": ("Embeddings_Create", "embeddings"),
    "responses": ("Responses_Create", "responses"),
}
"""Each operation's names in Azure's messages: in a 429, and in `OperationNotSupported`."""


def operation_not_supported(operation: Operation, model: str) -> tuple[int, dict[str, Any]]:
    """A chat model asked for embeddings, or an embeddings model for chat or responses."""
    message = (
        f"The {_OPERATIONS[operation][1]} operation does not work with the specified model, "
        f"{model}. Please choose different model and try again. You can learn more about which "
        "models can be used with each operation here: https://go.microsoft.com/fwlink/?linkid=2197993."
    )
    return 400, {"error": {"code": "OperationNotSupported", "message": message}}


def response_not_found(response_id: str) -> tuple[int, dict[str, Any]]:
    """A stored response this resource does not hold (another's, deleted, or never stored)."""
    _, body = invalid_request(f"Response with id '{response_id}' not found.")
    return 404, body


def previous_response_not_found(response_id: str) -> tuple[int, dict[str, Any]]:
    return invalid_request(
        f"Previous response with id '{response_id}' not found.",
        param="previous_response_id",
        code="previous_response_not_found",
    )


def rate_limited(
    api_version: str,
    limit: Literal["requests", "tokens"],
    seconds: float,
    operation: Operation = "chat",
) -> tuple[int, dict[str, Any]]:
    kind = "token rate limit" if limit == "tokens" else "call rate limit"
    message = (
        f"Requests to the {_OPERATIONS[operation][0]} Operation under Azure OpenAI API version "
        f"{api_version} have exceeded {kind} of your current OpenAI S0 pricing tier. Please "
        f"retry after {whole_seconds(seconds)} seconds. Please go here: "
        "https://aka.ms/oai/quotaincrease if you would like to further increase the default "
        "rate limit."
    )
    return 429, {"error": {"code": "429", "message": message}}


def _milliseconds(seconds: float) -> int:
    """Whole milliseconds, rounded up (once float noise such as 0.30000000000000004 s
    is rounded away), so a client waiting them is never early."""
    return max(math.ceil(round(seconds * 1000, 6)), 0)


def whole_seconds(seconds: float) -> int:
    """`retry-after` is whole seconds, rounded up so a client waiting it is never early."""
    return -(-_milliseconds(seconds) // 1000)


def retry_after_headers(seconds: float, dialect: RetryAfter) -> dict[str, str]:
    if dialect == "none":
        return {}
    headers = {RETRY_AFTER: str(whole_seconds(seconds))}
    if dialect == "ms":
        headers[RETRY_AFTER_MS] = str(_milliseconds(seconds))
    return headers


def remaining_headers(requests: int, tokens: int) -> dict[str, str]:
    return {REMAINING_REQUESTS: str(requests), REMAINING_TOKENS: str(tokens)}


def go_duration(seconds: float) -> str:
    """`seconds` as Go prints a `time.Duration`, as OpenAI-style reset headers carry them,
    rounded up to the millisecond: "0s", "250ms", "1.5s", "47.75s", "1m30s", "6m0s"."""
    millis = _milliseconds(seconds)
    if millis < 1000:
        return f"{millis}ms" if millis else "0s"
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, fraction = divmod(rest, 1000)
    text = f"{whole}.{fraction:03d}".rstrip("0") if fraction else str(whole)
    if hours:
        return f"{hours}h{minutes}m{text}s"
    return f"{minutes}m{text}s" if minutes else f"{text}s"


def reset_headers(requests: float, tokens: float) -> dict[str, str]:
    """Seconds until the request and the token window would admit one more request."""
    return {RESET_REQUESTS: go_duration(requests), RESET_TOKENS: go_duration(tokens)}


def sse(payload: dict[str, Any] | str, event: str | None = None) -> bytes:
    """One server-sent event: `event: <name>` if named (as the Responses API names every
    event), `data: <json>` and a blank line."""
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    named = "" if event is None else f"event: {event}\n"
    return f"{named}data: {data}\n\n".encode()
