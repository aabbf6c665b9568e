"""Validate a chat-completions body the way the service does, into a typed request.

Bad input must get the 400 the service gives, naming the parameter, and never
a traceback: every field the emulator reads is checked for type and range here
before anything else looks at it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aoai_fallbacks import _wire as wire
from aoai_fallbacks.emulator._schema import MAX_SUBSCHEMAS, Schema, SchemaError, check_schema

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
MAX_N = 128
MAX_TOOLS = 128
MAX_TOKENS = 2**31 - 1
"""The largest `max_tokens` the service accepts (a 32-bit integer)."""
SEED_RANGE = (-(2**63), 2**63 - 1)
"""`seed` is a 64-bit integer."""
NAME_PATTERN = "^[a-zA-Z0-9_-]+$"
MAX_NAME_LENGTH = 64
"""Function and schema names: what the service allows."""
MAX_STOP = 4
"""Most stop sequences a request may give."""
MAX_TOP_LOGPROBS = 20
_PARTS: dict[str, tuple[frozenset[str], type, str, str]] = {
    "text": (ROLES, str, "Texts", "a text"),
    "image_url": (frozenset({"user"}), dict, "Image URLs", "an image URL"),
    "input_audio": (frozenset({"user"}), dict, "Audio inputs", "an audio input"),
    "file": (frozenset({"user"}), dict, "Files", "a file"),
    "refusal": (frozenset({"assistant"}), str, "Refusals", "a refusal"),
    "audio": (frozenset({"assistant"}), dict, "Audio outputs", "an audio output"),
}
"""Content part types: the roles whose messages may carry one, the type of the field named
after it (``{"type": "text", "text": "..."}``), and how the service names it in a refusal."""
_NAME = re.compile(r"[a-zA-Z0-9_-]+")
_ANY_OBJECT = check_schema({"type": "object"})


class InvalidRequest(Exception):
    """The body breaks the protocol: answered 400 with this message and parameter."""

    def __init__(self, message: str, *, param: str | None, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


@dataclass(frozen=True)
class Function:
    """A function tool the model may call, its parameters checked."""

    name: str
    parameters: Schema


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
    stop: tuple[str, ...]
    """Sequences the answer ends before (the first found cuts it)."""
    logprobs: bool
    top_logprobs: int
    """Alternatives to list with each token's log probability (0 to 20)."""
    functions: list[Function]
    tool_choice: object
    response_format: str
    """`text`, `json_object` or `json_schema`."""
    response_schema: Schema | None
    """The schema of a `json_schema` response format."""


def _invalid_type(param: str, expected: type, value: object) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid type for '{param}': expected {wire.TYPE_NAMES[expected]}, "
        f"but got {wire.type_name(value)} instead.",
        param=param,
        code="invalid_type",
    )


def _missing(param: str) -> InvalidRequest:
    return InvalidRequest(
        f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


def _too_long(param: str, most: int, length: int) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid '{param}': array too long. Expected an array with maximum length {most}, "
        f"but got an array with length {length} instead.",
        param=param,
        code="array_above_max_length",
    )


def optional(body: Mapping[str, Any], param: str, expected: type) -> Any:
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


def integer(body: Mapping[str, Any], param: str, low: int, high: int) -> int | None:
    """An optional integer parameter within the bounds the service sets for it."""
    value: int | None = optional(body, param, int)
    if value is not None and value < low:
        raise InvalidRequest(
            f"Invalid '{param}': integer below minimum value. Expected a value >= {low}, "
            f"but got {value} instead.",
            param=param,
            code="integer_below_min_value",
        )
    if value is not None and value > high:
        raise InvalidRequest(
            f"Invalid '{param}': integer above maximum value. Expected a value <= {high}, "
            f"but got {value} instead.",
            param=param,
            code="integer_above_max_value",
        )
    return value


def _name(value: object, param: str) -> str:
    """A function's or a schema's name: letters, digits, `_` and `-`, at most 64 of them."""
    if not isinstance(value, str):
        raise _missing(param)
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidRequest(
            f"Invalid '{param}': string too long. Expected a string with maximum length "
            f"{MAX_NAME_LENGTH}, but got a string with length {len(value)} instead.",
            param=param,
            code="string_above_max_length",
        )
    if not _NAME.fullmatch(value):
        raise InvalidRequest(
            f"Invalid '{param}': string does not match pattern. Expected a string that "
            f"matches the pattern '{NAME_PATTERN}'.",
            param=param,
            code="invalid_value",
        )
    return value


def _messages(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if "messages" not in body:
        raise _missing("messages")
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
        for field, allowed in (("role", str), ("content", (str, list)), ("name", str)):
            value = message.get(field)
            if value is not None and not isinstance(value, allowed):
                raise _invalid_type(f"{where}.{field}", str, value)
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
        for index, part in enumerate(content if isinstance(content, list) else ()):
            _check_part(part, role, where, f"{where}.content[{index}]")
    return messages


def _check_part(part: object, role: str, in_message: str, where: str) -> None:
    """A content part is one the service takes, of a type the message's role may carry."""
    if not isinstance(part, dict):
        raise _invalid_type(where, dict, part)
    kind = part.get("type")
    if kind is None:
        raise _missing(f"{where}.type")
    if not isinstance(kind, str):
        raise _invalid_type(f"{where}.type", str, kind)
    if kind not in _PARTS:
        raise InvalidRequest(
            f"Invalid value: {kind!r}. Supported values are: 'text', 'image_url', "
            "'input_audio', 'refusal', 'audio', and 'file'.",
            param=f"{where}.type",
            code="invalid_value",
        )
    roles, expected, plural, singular = _PARTS[kind]
    if role not in roles:
        allowed = " or ".join(f"'{r}'" for r in sorted(roles))
        raise InvalidRequest(
            f"Invalid '{in_message}'. {plural} are only allowed for messages with role "
            f"{allowed}, but this message with role '{role}' contains {singular}.",
            param=in_message,
            code="invalid_value",
        )
    value = part.get(kind)
    if value is None:
        raise _missing(f"{where}.{kind}")
    if not isinstance(value, expected):
        raise _invalid_type(f"{where}.{kind}", expected, value)


def _schema(
    document: dict[str, Any], allowance: int, invalid: str, *, param: str, code: str
) -> Schema:
    try:
        return check_schema(document, allowance)
    except SchemaError as error:
        raise InvalidRequest(
            f"Invalid schema for {invalid}: {error}", param=param, code=code
        ) from None


def _functions(body: Mapping[str, Any]) -> list[Function]:
    tools: list[object] = optional(body, "tools", list) or []
    if len(tools) > MAX_TOOLS:
        raise _too_long("tools", MAX_TOOLS, len(tools))
    functions: list[Function] = []
    allowance = MAX_SUBSCHEMAS
    for index, tool in enumerate(tools):
        where = f"tools[{index}]"
        if not isinstance(tool, dict):
            raise _invalid_type(where, dict, tool)
        function = tool.get("function")
        if tool.get("type") != "function" or not isinstance(function, dict):
            raise InvalidRequest(
                f"Invalid '{where}': expected a function tool.", param=where, code="invalid_value"
            )
        name = _name(function.get("name"), f"{where}.function.name")
        parameters = function.get("parameters")
        if parameters is None:
            schema = _ANY_OBJECT
        elif isinstance(parameters, dict):
            schema = _schema(
                parameters,
                allowance,
                f"function '{name}'",
                param=f"{where}.function.parameters",
                code="invalid_function_parameters",
            )
        else:
            raise _invalid_type(f"{where}.function.parameters", dict, parameters)
        allowance -= schema.size
        functions.append(Function(name, schema))
    return functions


def _tool_choice(body: Mapping[str, Any], functions: list[Function]) -> object:
    choice = body.get("tool_choice")
    if choice is None or choice in ("none", "auto", "required"):
        if choice == "required" and not functions:
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
    if all(function.name != name for function in functions):
        raise InvalidRequest(
            f"Invalid value for 'tool_choice': no function named '{name}' was specified in "
            "the 'tools' parameter.",
            param="tool_choice",
            code="invalid_value",
        )
    return choice


def _response_format(body: Mapping[str, Any], allowance: int) -> tuple[str, Schema | None]:
    fmt: dict[str, Any] = optional(body, "response_format", dict) or {"type": "text"}
    kind = fmt.get("type")
    if kind not in ("text", "json_object", "json_schema"):
        raise InvalidRequest(
            f"Invalid value: {kind!r}. Supported values are: 'text', 'json_object' and "
            "'json_schema'.",
            param="response_format.type",
            code="invalid_value",
        )
    if kind != "json_schema":
        return kind, None
    where = "response_format.json_schema"
    spec = fmt.get("json_schema")
    if not isinstance(spec, dict):
        spec = {}
    name = _name(spec.get("name"), f"{where}.name")
    document = spec.get("schema")
    if document is None:
        return kind, _ANY_OBJECT
    if not isinstance(document, dict):
        raise _invalid_type(f"{where}.schema", dict, document)
    schema = _schema(
        document,
        allowance,
        f"response_format '{name}'",
        param="response_format",
        code="invalid_json_schema",
    )
    return kind, schema


def _stop(body: Mapping[str, Any]) -> tuple[str, ...]:
    stop = body.get("stop")
    if stop is None:
        return ()
    if isinstance(stop, str):
        return (stop,)
    if not isinstance(stop, list):
        raise InvalidRequest(
            "Invalid type for 'stop': expected a string or an array of strings, "
            f"but got {wire.type_name(stop)} instead.",
            param="stop",
            code="invalid_type",
        )
    if len(stop) > MAX_STOP:
        raise _too_long("stop", MAX_STOP, len(stop))
    for index, sequence in enumerate(stop):
        if not isinstance(sequence, str):
            raise _invalid_type(f"stop[{index}]", str, sequence)
    return tuple(stop)


def _logprobs(body: Mapping[str, Any]) -> tuple[bool, int]:
    logprobs = bool(optional(body, "logprobs", bool))
    top = integer(body, "top_logprobs", 0, MAX_TOP_LOGPROBS)
    if top is not None and not logprobs:
        raise InvalidRequest(
            "Invalid value for 'top_logprobs': 'logprobs' must be true to request the most "
            "likely tokens.",
            param="top_logprobs",
            code="invalid_value",
        )
    return logprobs, top or 0


def body_object(body: object) -> dict[str, Any]:
    """The decoded body, if it is an object as every operation's must be."""
    if not isinstance(body, dict):
        raise InvalidRequest(
            f"Invalid type for body: expected an object, but got {wire.type_name(body)} instead.",
            param=None,
            code="invalid_type",
        )
    return body


def parse_chat_request(body: object) -> ChatRequest:
    """Check `body` (decoded JSON) and return the request, or raise `InvalidRequest`."""
    body = body_object(body)
    messages = _messages(body)
    max_tokens = integer(body, "max_tokens", 1, MAX_TOKENS)
    max_completion_tokens = integer(body, "max_completion_tokens", 1, MAX_TOKENS)
    n = optional(body, "n", int)
    n = 1 if n is None else n
    _in_range("n", n, 1, MAX_N)
    temperature = optional(body, "temperature", float)
    if temperature is not None:
        _in_range("temperature", temperature, 0, 2)
    top_p = optional(body, "top_p", float)
    if top_p is not None:
        _in_range("top_p", top_p, 0, 1)
    seed = integer(body, "seed", *SEED_RANGE)
    stream = bool(optional(body, "stream", bool))
    options = optional(body, "stream_options", dict)
    if options is not None and not stream:
        raise InvalidRequest(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
            code="invalid_value",
        )
    include_usage = bool(optional(options or {}, "include_usage", bool))
    stop = _stop(body)
    logprobs, top_logprobs = _logprobs(body)
    functions = _functions(body)
    allowance = MAX_SUBSCHEMAS - sum(function.parameters.size for function in functions)
    response_format, response_schema = _response_format(body, allowance)
    return ChatRequest(
        body=body,
        messages=messages,
        max_tokens=max_completion_tokens if max_completion_tokens is not None else max_tokens,
        n=n,
        temperature=1.0 if temperature is None else float(temperature),
        seed=seed,
        stream=stream,
        include_usage=include_usage,
        stop=stop,
        logprobs=logprobs,
        top_logprobs=top_logprobs,
        functions=functions,
        tool_choice=_tool_choice(body, functions),
        response_format=response_format,
        response_schema=response_schema,
    )
