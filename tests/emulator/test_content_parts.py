"""Content parts Azure refuses are refused: an unknown type, a part its role may not carry,
a part without its field. Those it takes (text, an image for the user) are answered."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aoai_fallbacks.emulator import Resource

from ._support import post

pytestmark = pytest.mark.integration

IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}


def _ask(resource: Resource, *messages: dict[str, Any]) -> Any:
    return post(resource, json.dumps({"messages": list(messages), "max_tokens": 5}).encode())


def test_text_and_an_image_from_the_user_are_answered(resource: Resource) -> None:
    response = _ask(
        resource,
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": [{"type": "text", "text": "What is this?"}, IMAGE]},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("message", "param", "words"),
    [
        pytest.param(
            {"role": "assistant", "content": [{"type": "tool_use", "id": "1", "input": {}}]},
            "messages[0].content[0].type",
            "Invalid value: 'tool_use'. Supported values are: 'text', 'image_url'",
            id="anthropic-tool-use",
        ),
        pytest.param(
            {"role": "system", "content": [IMAGE]},
            "messages[0]",
            "Image URLs are only allowed for messages with role 'user', but this message with "
            "role 'system' contains an image URL",
            id="image-in-system",
        ),
        pytest.param(
            {"role": "user", "content": [{"type": "text"}]},
            "messages[0].content[0].text",
            "Missing required parameter",
            id="text-without-text",
        ),
        pytest.param(
            {"role": "user", "content": [{"type": "image_url", "image_url": "http://x/y.png"}]},
            "messages[0].content[0].image_url",
            "expected an object",
            id="image-url-as-a-string",
        ),
        pytest.param(
            {"role": "user", "content": ["hello"]},
            "messages[0].content[0]",
            "expected an object",
            id="bare-string-part",
        ),
        pytest.param(
            {"role": "user", "content": [{"text": "hello"}]},
            "messages[0].content[0].type",
            "Missing required parameter",
            id="no-type",
        ),
    ],
)
def test_parts_azure_refuses_are_400_naming_them(
    resource: Resource, message: dict[str, Any], param: str, words: str
) -> None:
    response = _ask(resource, message)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == param
    assert words in error["message"]
