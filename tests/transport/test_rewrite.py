"""Per-attempt rewriting on plain `httpx` requests, as the SDK builds them."""

from __future__ import annotations

import json

import pytest

from aoai_fallbacks._http import httpx
from aoai_fallbacks._rewrite import estimate_tokens, rewrite
from aoai_fallbacks.config import Backend

PLACEHOLDER = "https://aoai-fallbacks.invalid"
KEY = "backend-key-0123456789"


def sdk_request(path: str, body: dict[str, object], **headers: str) -> httpx.Request:
    request = httpx.Request(
        "POST",
        PLACEHOLDER + path,
        headers={"api-key": "placeholder", "x-stainless-lang": "python", **headers},
        json=body,
        extensions={"timeout": {"connect": 5.0, "read": 600.0, "write": 600.0, "pool": 600.0}},
    )
    request.read()
    return request


def backend(endpoint: str = "http://127.0.0.1:8123", **fields: object) -> Backend:
    fields.setdefault("api_key", KEY)
    return Backend(name="02", endpoint=endpoint, deployment="gpt-4o", **fields)  # type: ignore[arg-type]


def test_deployment_path_host_version_and_key_are_the_backends() -> None:
    request = sdk_request(
        "/openai/deployments/whatever/chat/completions?api-version=2020-01-01",
        {"model": "whatever", "messages": [{"role": "user", "content": "hi"}]},
    )
    target = backend(api_version="2024-10-21")
    out = rewrite(request, target, {"api-key": KEY})
    assert str(out.url) == (
        "http://127.0.0.1:8123/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
    )
    assert out.headers["host"] == "127.0.0.1:8123"
    assert out.headers.get_list("api-key") == [KEY]
    assert out.headers["x-stainless-lang"] == "python"
    assert out.content == request.content  # the body is not touched on this path
    assert int(out.headers["content-length"]) == len(out.content)


def test_an_endpoint_path_prefix_is_kept() -> None:
    request = sdk_request("/openai/deployments/x/embeddings?api-version=1", {"input": "a"})
    out = rewrite(request, backend("https://gw.example.com/team-a/"), {"api-key": KEY})
    assert out.url.path == "/team-a/openai/deployments/gpt-4o/embeddings"
    assert out.url.host == "gw.example.com"
    assert out.url.scheme == "https"


def test_v1_api_gets_the_deployment_as_model_in_the_body() -> None:
    request = sdk_request("/openai/v1/chat/completions", {"model": "placeholder", "n": 1})
    out = rewrite(request, backend(), {"api-key": KEY})
    assert str(out.url) == "http://127.0.0.1:8123/openai/v1/chat/completions"
    assert json.loads(out.content) == {"model": "gpt-4o", "n": 1}
    assert int(out.headers["content-length"]) == len(out.content)


def test_bearer_token_replaces_every_placeholder_credential() -> None:
    request = sdk_request(
        "/openai/deployments/x/chat/completions?api-version=1", {}, authorization="Bearer old"
    )
    out = rewrite(request, backend(api_key=None), {"Authorization": "Bearer new-token"})
    assert "api-key" not in out.headers
    assert out.headers.get_list("authorization") == ["Bearer new-token"]


NO_TIMEOUT = dict.fromkeys(("connect", "read", "write", "pool"))  # LangChain's default


@pytest.mark.parametrize(
    ("caller", "limits", "expected"),
    [
        (None, (None, None), {"connect": 5.0, "read": 600.0, "write": 600.0, "pool": 600.0}),
        # The caller's own timeout is kept: issue 10 found it cut to attempt_timeout.
        (None, (30.0, 10.0), {"connect": 5.0, "read": 600.0, "write": 600.0, "pool": 600.0}),
        (None, (30.0, 2.0), {"connect": 2.0, "read": 600.0, "write": 600.0, "pool": 600.0}),
        (NO_TIMEOUT, (30.0, 10.0), {"connect": 10.0, "read": 30.0, "write": 30.0, "pool": 30.0}),
        (NO_TIMEOUT, (None, None), NO_TIMEOUT),
        (
            {"connect": None, "read": 900.0},
            (30.0, None),
            {**dict.fromkeys(("connect", "write", "pool"), 30.0), "read": 900.0},
        ),
    ],
)
def test_the_callers_timeout_is_kept_and_only_connecting_is_capped(
    caller: dict[str, float | None] | None,
    limits: tuple[float | None, float | None],
    expected: dict[str, float | None],
) -> None:
    request = sdk_request("/openai/deployments/x/chat/completions", {})
    if caller is not None:
        request.extensions["timeout"] = caller
    attempt_timeout, connect_timeout = limits
    out = rewrite(
        request,
        backend(),
        {"api-key": KEY},
        attempt_timeout=attempt_timeout,
        connect_timeout=connect_timeout,
    )
    assert out.extensions["timeout"] == expected


def test_cost_is_the_prompt_estimate_plus_max_tokens() -> None:
    prompt = "x" * 400
    body = json.dumps({"messages": [{"role": "user", "content": prompt}], "max_tokens": 300})
    assert estimate_tokens(body.encode()) == len(body) // 4 + 300
    completion = json.dumps({"max_completion_tokens": 50}).encode()
    assert estimate_tokens(completion) == len(completion) // 4 + 50
    assert estimate_tokens(b"") == 0
