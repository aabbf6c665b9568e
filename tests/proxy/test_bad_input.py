"""Bad input is answered by the proxy, in Azure's shapes, and never reaches a backend."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import openai
import pytest

from aoai_fallbacks.proxy import ProxySettings

from ._support import API_VERSION, CHAT, EMBEDDING, KEY, MESSAGES, Running, running_proxy

pytestmark = pytest.mark.integration

LIMIT = 4_096
CLASSIC = f"/openai/deployments/{CHAT}/chat/completions?api-version={API_VERSION}"
BODY = json.dumps({"messages": MESSAGES}).encode()


@pytest.fixture(scope="module")
def proxy() -> Iterator[Running]:
    with running_proxy(settings=ProxySettings(keys=(KEY,), max_body=LIMIT)) as running:
        yield running


@pytest.fixture
def http(proxy: Running) -> Iterator[httpx.Client]:
    before = proxy.received(CHAT) + proxy.received(EMBEDDING)
    with httpx.Client(base_url=proxy.url, headers={"api-key": KEY}) as client:
        yield client
    assert proxy.received(CHAT) + proxy.received(EMBEDDING) == before, "a backend was asked"


def error_of(response: httpx.Response) -> dict[str, object]:
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert isinstance(error, dict)
    assert error["message"]
    return error


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "no key"),
        ({"api-key": "not-the-proxy-key-at-all"}, "wrong key"),
        ({"authorization": "Bearer not-the-proxy-key-at-all"}, "wrong bearer"),
        ({"api-key": KEY[:-1]}, "a prefix of the key"),
    ],
)
def test_a_missing_or_wrong_key_is_401(
    proxy: Running, http: httpx.Client, headers: dict[str, str], why: str
) -> None:
    http.headers.pop("api-key")
    response = http.post(CLASSIC, content=BODY, headers=headers)
    assert response.status_code == 401, why
    assert error_of(response)["code"] == "401"


def test_the_key_as_a_bearer_token_is_accepted(proxy: Running) -> None:
    client = openai.AzureOpenAI(
        azure_endpoint=proxy.url,
        azure_ad_token=KEY,  # sent as Authorization: Bearer
        api_version=API_VERSION,
        max_retries=0,
    )
    assert client.chat.completions.create(model=CHAT, messages=MESSAGES).choices


def test_an_sdk_with_a_wrong_key_raises_its_authentication_error(proxy: Running) -> None:
    with pytest.raises(openai.AuthenticationError):
        proxy.client(api_key="not-the-proxy-key-at-all").chat.completions.create(
            model=CHAT, messages=MESSAGES
        )


@pytest.mark.parametrize(
    "body", [b"{not json", b'{"messages": [', b"\xff\xfe", b"[" * 2_000 + b"]" * 2_000]
)
def test_malformed_json_is_400(http: httpx.Client, body: bytes) -> None:
    response = http.post(CLASSIC, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert error_of(response)["type"] == "invalid_request_error"


def test_a_body_over_the_limit_is_413_whether_declared_or_streamed(http: httpx.Client) -> None:
    big = json.dumps({"messages": [{"role": "user", "content": "x" * LIMIT}]}).encode()
    declared = http.post(CLASSIC, content=big)
    assert declared.status_code == 413
    assert error_of(declared)["code"] == "RequestEntityTooLarge"
    chunked = http.post(CLASSIC, content=iter([big[:1000], big[1000:]]))  # no content-length
    assert "content-length" not in chunked.request.headers
    assert chunked.status_code == 413


def test_an_unknown_deployment_is_azures_404_on_both_apis(http: httpx.Client) -> None:
    classic = http.post(CLASSIC.replace(CHAT, "gpt-5-nowhere"), content=BODY)
    assert classic.status_code == 404
    assert error_of(classic)["code"] == "DeploymentNotFound"
    v1 = http.post(
        "/openai/v1/chat/completions",
        content=json.dumps({"model": "gpt-5-nowhere", "messages": MESSAGES}),
    )
    assert v1.status_code == 404
    assert error_of(v1)["code"] == "DeploymentNotFound"


def test_a_deployment_of_the_other_pool_is_azures_operation_not_supported(
    http: httpx.Client,
) -> None:
    chat_on_embeddings = http.post(CLASSIC.replace(CHAT, EMBEDDING), content=BODY)
    assert chat_on_embeddings.status_code == 400
    assert error_of(chat_on_embeddings)["code"] == "OperationNotSupported"
    embeddings_on_chat = http.post(
        "/openai/v1/embeddings", content=json.dumps({"model": CHAT, "input": "one"})
    )
    assert embeddings_on_chat.status_code == 400
    assert error_of(embeddings_on_chat)["code"] == "OperationNotSupported"


def test_an_unknown_name_raises_the_sdks_not_found(proxy: Running) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        proxy.client().chat.completions.create(model="gpt-5-nowhere", messages=MESSAGES)
    assert raised.value.code == "DeploymentNotFound"


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/", "404"),
        ("/v1/chat/completions", "404"),
        ("/openai/nothing/here", "OperationNotBalanced"),
        (f"/openai/deployments/{CHAT}/images/generations", "OperationNotBalanced"),
        ("/openai/v1/files", "OperationNotBalanced"),  # listing: each resource has its own
        ("/openai/v1/responses/resp_nobody_made_this", "UnknownObject"),
    ],
)
def test_unknown_paths_and_operations_are_404(http: httpx.Client, path: str, code: str) -> None:
    response = http.get(path)
    assert response.status_code == 404
    assert error_of(response)["code"] == code


def test_inference_with_the_wrong_method_is_405(http: httpx.Client) -> None:
    for method in ("GET", "PUT", "DELETE"):
        response = http.request(method, CLASSIC)
        assert response.status_code == 405, method
        assert response.headers["allow"] == "POST"
        assert error_of(response)["code"] == "405"


def test_a_client_gone_before_its_body_arrived_asks_nothing(proxy: Running) -> None:
    before = proxy.received()
    host, port = proxy.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            f"POST {CLASSIC} HTTP/1.1\r\nhost: {host}\r\napi-key: {KEY}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(BODY)}\r\n\r\n".encode()
            + BODY[:10]
        )
    # The next request is answered, and is the only one a backend saw.
    assert proxy.client().chat.completions.create(model=CHAT, messages=MESSAGES).choices
    assert proxy.received() == before + 1
