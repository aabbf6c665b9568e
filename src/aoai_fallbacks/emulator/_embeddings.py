"""Embeddings: validate a request the way the service does, and answer it with vectors.

Vectors must be stable (a test embeds the same text twice and compares) and
look like a model's: unit length, of the deployment's dimension, and for a
`dimensions` request the first components renormalised, as text-embedding-3
shortens its vectors. They are a hash of the deployment and the
input, nothing more. `encoding_format` "base64" is the little-endian float32
array the openai SDK asks for by default and decodes.
"""

from __future__ import annotations

import array
import base64
import hashlib
import json
import math
import sys
from dataclasses import dataclass
from typing import Any, Literal

from aoai_fallbacks import _wire as wire
from aoai_fallbacks.emulator._request import InvalidRequest, body_object, integer, optional
from aoai_fallbacks.emulator._tokens import text_tokens

MAX_INPUTS = 2048
"""The most inputs one request may embed."""
MAX_INPUT_TOKENS = 8192
"""The longest input an embeddings model takes."""
SHORTENABLE = "text-embedding-3"
"""Models whose name contains this accept `dimensions`."""

Input = str | list[int]


@dataclass(frozen=True)
class EmbeddingsRequest:
    inputs: list[Input]
    encoding_format: Literal["float", "base64"]
    dimensions: int | None


def _bad_input() -> InvalidRequest:
    return InvalidRequest(
        "'$.input' is invalid. Please check the API reference: "
        "https://platform.openai.com/docs/api-reference.",
        param="input",
        code="invalid_value",
    )


def _is_tokens(value: object) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in value)
    )


def _inputs(body: dict[str, Any]) -> list[Input]:
    if "input" not in body:
        raise InvalidRequest(
            "Missing required parameter: 'input'.",
            param="input",
            code="missing_required_parameter",
        )
    given = body["input"]
    if isinstance(given, str):
        inputs: list[Input] = [given]
    elif _is_tokens(given):
        inputs = [given]
    elif (
        isinstance(given, list)
        and given
        and (all(isinstance(i, str) for i in given) or all(_is_tokens(i) for i in given))
    ):
        inputs = list(given)
    else:
        raise _bad_input()
    if any(item == "" for item in inputs):
        raise InvalidRequest(
            "'$.input' is invalid: an input cannot be an empty string.",
            param="input",
            code="invalid_value",
        )
    if len(inputs) > MAX_INPUTS:
        raise InvalidRequest(
            f"Invalid 'input': maximum input array size is {MAX_INPUTS}, "
            f"but got {len(inputs)} inputs.",
            param="input",
            code="array_above_max_length",
        )
    return inputs


def parse_embeddings_request(
    body: object, *, model: str, max_dimensions: int
) -> EmbeddingsRequest:
    """Check `body` (decoded JSON) for `model`, or raise `InvalidRequest`."""
    body = body_object(body)
    inputs = _inputs(body)
    encoding: Literal["float", "base64"] = optional(body, "encoding_format", str) or "float"
    if encoding not in ("float", "base64"):
        raise InvalidRequest(
            f"Invalid value: {encoding!r}. Supported values are: 'float' and 'base64'.",
            param="encoding_format",
            code="invalid_value",
        )
    optional(body, "user", str)
    dimensions = integer(body, "dimensions", 1, max_dimensions)
    if dimensions is not None and SHORTENABLE not in model:
        raise InvalidRequest(
            "This model does not support specifying dimensions.",
            param="dimensions",
            code="invalid_value",
        )
    return EmbeddingsRequest(inputs, encoding, dimensions)


def input_tokens(item: Input) -> int:
    """A text's estimated tokens, or a token array's length."""
    return text_tokens(item) if isinstance(item, str) else len(item)


def input_too_long(tokens: int) -> tuple[int, dict[str, Any]]:
    return wire.invalid_request(
        f"This model's maximum context length is {MAX_INPUT_TOKENS} tokens, however you "
        f"requested {tokens} tokens ({tokens} in your prompt; 0 for the completion). "
        "Please reduce your prompt; or completion length.",
        param="input",
        code="context_length_exceeded",
    )


def vector(deployment: str, item: Input, full: int, dimensions: int | None) -> list[float]:
    """The input's unit vector: `full` components hashed from the deployment and the input
    (fast enough for 2,048 inputs a request), the first `dimensions` of them renormalised
    if asked; each a float32, so "float" and "base64" answers agree."""
    noise = hashlib.shake_256(json.dumps([deployment, item]).encode()).digest(full)
    components = [byte - 127.5 for byte in noise[: dimensions or full]]
    norm = math.sqrt(sum(c * c for c in components)) or 1.0
    return array.array("f", (c / norm for c in components)).tolist()


def _encoded(values: list[float], encoding: str) -> list[float] | str:
    if encoding == "float":
        return values
    packed = array.array("f", values)
    if sys.byteorder == "big":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")


def embeddings_body(
    request: EmbeddingsRequest, *, deployment: str, model: str, full: int, tokens: int
) -> dict[str, Any]:
    """The answer: one embedding per input, in order, and the tokens charged."""
    return {
        "object": "list",
        "data": [
            {
                "object": "embedding",
                "index": index,
                "embedding": _encoded(
                    vector(deployment, item, full, request.dimensions), request.encoding_format
                ),
            }
            for index, item in enumerate(request.inputs)
        ],
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
