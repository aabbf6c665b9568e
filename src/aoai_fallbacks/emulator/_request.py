"""Validate a chat-completions body the way the service does, into a typed request.

Bad input must get the 400 the service gives, naming the parameter, and never
a traceback: every field the emulator reads is checked for type and range here
before anything else looks at it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
MAX_N = 128


class InvalidRequest(Exception):
    """The body breaks the protocol: answered 400 with this message and parameter."""

    def __init__(self, message: str, *, param: str | None, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


@dataclass(frozen=True)
class ChatRequest:
    body: Mapping[str, Any]
    """The validated body, for the token estimate."""
    messages: list[Mapping[str, Any]]
    max_tokens: int | None
    """`max_completion_tokens`, else `max_tokens`, else None."""
    n: int
    temperature: float
    seed: int | None
    stream: bool
    include_usage: bool
    tools: list[Mapping[str, Any]]
    tool_choice: object
    response_format: Mapping[str, Any] | None


_TYPE_NAMES = {
    int: "an integer",
    float: "a decimal",
    str: "a string",
    bool: "a boolean",
    list: "an array",
    dict: "an object",
}


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    for kind, name in _TYPE_NAMES.items():
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _invalid_type(param: str, expected: type, value: object) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid type for '{param}': expected {_TYPE_NAMES[expected]}, "
        f"but got {_type_name(value)} instead.",
        param=param,
        code="invalid_type",
    )


def _optional(body: Mapping[str, Any], param: str, expected: type) -> Any:
    value = body.get(param)
    if value is None:
        return None
    is_bool = isinstance(value, bool)
    if expected is float:
        ok = isinstance(value, int | float) and not is_bool
    elif expected is int:
        ok = isinstance(value, int) and not is_bool
    else:
        ok = isinstance(value, expected)
    if not ok:
        raise _invalid_type(param, expected, value)
    return value


def _in_range(param: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise InvalidRequest(
            f"Invalid value for '{param}': expected a value between {low} and {high}, "
            f"but got {value} instead.",
            param=param,
            code="invalid_value",
        )


def _messages(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if "messages" not in body:
        raise InvalidRequest(
            "Missing required parameter: 'messages'.",
            param="messages",
            code="missing_required_parameter",
        )
    messages = body["messages"]
    if not isinstance(messages, list):
        raise _invalid_type("messages", list, messages)
    if not messages:
        raise InvalidRequest(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise _invalid_type(where, dict, message)
        role = message.get("role")
        if role not in ROLES:
            raise InvalidRequest(
                f"Invalid value: {role!r}. Supported values are: "
                + ", ".join(f"'{r}'" for r in sorted(ROLES))
                + ".",
                param=f"{where}.role",
                code="invalid_value",
            )
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise _invalid_type(f"{where}.content", str, content)
    return messages


def _tools(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    tools = _optional(body, "tools", list) or []
    for index, tool in enumerate(tools):
        where = f"tools[{index}]"
        if not isinstance(tool, dict):
            raise _invalid_type(where, dict, tool)
        function = tool.get("function")
        if tool.get("type") != "function" or not isinstance(function, dict):
            raise InvalidRequest(
                f"Invalid '{where}': expected a function tool.", param=where, code="invalid_value"
            )
        if not isinstance(function.get("name"), str):
            raise InvalidRequest(
                f"Missing required parameter: '{where}.function.name'.",
                param=f"{where}.function.name",
                code="missing_required_parameter",
            )
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise _invalid_type(f"{where}.function.parameters", dict, parameters)
    return tools


def _tool_choice(body: Mapping[str, Any], tools: list[Mapping[str, Any]]) -> object:
    choice = body.get("tool_choice")
    if choice is None or choice in ("none", "auto", "required"):
        if choice == "required" and not tools:
            raise InvalidRequest(
                "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' "
                "are specified.",
                param="tool_choice",
                code="invalid_value",
            )
        return choice
    name = None
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        name = choice["function"].get("name")
    if not isinstance(name, str):
        raise InvalidRequest(
            "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or a named "
            "function.",
            param="tool_choice",
            code="invalid_value",
        )
    if name not in {tool["function"]["name"] for tool in tools}:
        raise InvalidRequest(
            f"Invalid value for 'tool_choice': no function named '{name}' was specified in "
            "the 'tools' parameter.",
            param="tool_choice",
            code="invalid_value",
        )
    return choice


def _response_format(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    fmt: dict[str, Any] | None = _optional(body, "response_format", dict)
    if fmt is None:
        return None
    kind = fmt.get("type")
    if kind not in ("text", "json_object", "json_schema"):
        raise InvalidRequest(
            f"Invalid value: {kind!r}. Supported values are: 'text', 'json_object' and "
            "'json_schema'.",
            param="response_format.type",
            code="invalid_value",
        )
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise InvalidRequest(
                "Missing required parameter: 'response_format.json_schema.name'.",
                param="response_format.json_schema.name",
                code="missing_required_parameter",
            )
        if not isinstance(spec.get("schema", {}), dict):
            raise _invalid_type("response_format.json_schema.schema", dict, spec["schema"])
    return fmt


def parse_chat_request(body: object) -> ChatRequest:
    """Check `body` (decoded JSON) and return the request, or raise `InvalidRequest`."""
    if not isinstance(body, dict):
        raise InvalidRequest(
            f"Invalid type for body: expected an object, but got {_type_name(body)} instead.",
            param=None,
            code="invalid_type",
        )
    messages = _messages(body)
    max_tokens = _optional(body, "max_tokens", int)
    max_completion_tokens = _optional(body, "max_completion_tokens", int)
    limit = max_completion_tokens if max_completion_tokens is not None else max_tokens
    for param, value in (
        ("max_tokens", max_tokens),
        ("max_completion_tokens", max_completion_tokens),
    ):
        if value is not None and value < 1:
            raise InvalidRequest(
                f"Invalid '{param}': integer below minimum value. Expected a value >= 1, "
                f"but got {value} instead.",
                param=param,
                code="integer_below_min_value",
            )
    n = _optional(body, "n", int)
    n = 1 if n is None else n
    _in_range("n", n, 1, MAX_N)
    temperature = _optional(body, "temperature", float)
    temperature = 1.0 if temperature is None else float(temperature)
    _in_range("temperature", temperature, 0, 2)
    top_p = _optional(body, "top_p", float)
    if top_p is not None:
        _in_range("top_p", top_p, 0, 1)
    seed = _optional(body, "seed", int)
    stream = bool(_optional(body, "stream", bool))
    options = _optional(body, "stream_options", dict)
    if options is not None and not stream:
        raise InvalidRequest(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
            code="invalid_value",
        )
    include_usage = bool(_optional(options or {}, "include_usage", bool))
    tools = _tools(body)
    return ChatRequest(
        body=body,
        messages=messages,
        max_tokens=limit,
        n=n,
        temperature=temperature,
        seed=seed,
        stream=stream,
        include_usage=include_usage,
        tools=tools,
        tool_choice=_tool_choice(body, tools),
        response_format=_response_format(body),
    )
