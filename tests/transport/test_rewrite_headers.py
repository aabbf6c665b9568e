"""The request `rewrite` builds from finished parts carries the headers httpx would have added.

`rewrite` hands httpx a `URL`, raw headers and a byte stream, so httpx adds
no ``Host`` or ``Content-Length`` of its own: these tests pin that the
request on the wire is still the one `httpx.Request(content=...)` would send.
"""

from __future__ import annotations

import pytest

from aoai_fallbacks._http import httpx
from aoai_fallbacks._rewrite import rewrite
from aoai_fallbacks.config import Backend

PATH = "/openai/deployments/placeholder/chat/completions?api-version=2024-10-21"
V1_PATH = "/openai/v1/chat/completions"


def backend(name: str, endpoint: str, deployment: str = "gpt-4o") -> Backend:
    return Backend(name=name, endpoint=endpoint, deployment=deployment, api_key=f"key-{name}-0000")


def sent(request: httpx.Request, to: Backend) -> httpx.Request:
    request.read()
    return rewrite(request, to, {"api-key": to.api_key or ""})


@pytest.mark.parametrize(
    ("method", "content", "length"),
    [("POST", b'{"n":1}', "7"), ("POST", b"", "0"), ("PUT", b"", "0"), ("GET", b"", None)],
)
def test_content_length_is_what_httpx_itself_would_send(
    method: str, content: bytes, length: str | None
) -> None:
    to = backend("01", "https://r1.openai.azure.com")
    out = sent(httpx.Request(method, "https://x.invalid" + PATH, content=content), to)
    expected = httpx.Request(method, str(out.url), content=content)
    assert out.headers.get_list("content-length") == ([] if length is None else [length])
    assert out.headers.get("content-length") == expected.headers.get("content-length")
    assert out.content == content


def test_a_chunked_body_keeps_its_transfer_encoding_and_gets_no_length() -> None:
    request = httpx.Request("POST", "https://x.invalid" + PATH, content=iter([b"{}", b""]))
    assert request.headers["transfer-encoding"] == "chunked"
    out = sent(request, backend("01", "https://r1.openai.azure.com"))
    assert out.headers.get_list("transfer-encoding") == ["chunked"]
    assert "content-length" not in out.headers
    assert out.content == b"{}"


def test_a_rewritten_v1_body_gets_its_new_length_once() -> None:
    request = httpx.Request("POST", "https://x.invalid" + V1_PATH, json={"model": "m", "n": 1})
    out = sent(request, backend("01", "https://r1.openai.azure.com", deployment="a-longer-name"))
    assert out.headers.get_list("content-length") == [str(len(out.content))]
    assert len(out.content) != len(request.content)


def test_each_backend_gets_its_own_host_and_url_however_often_the_path_repeats() -> None:
    one = backend("01", "https://r1.openai.azure.com", deployment="first")
    two = backend("02", "http://127.0.0.1:8123/gateway", deployment="second")
    for _ in range(3):  # the second and third rounds come from the cache
        for to, host, url in [
            (one, "r1.openai.azure.com", "https://r1.openai.azure.com/openai/deployments/first/"),
            (two, "127.0.0.1:8123", "http://127.0.0.1:8123/gateway/openai/deployments/second/"),
        ]:
            out = sent(httpx.Request("POST", "https://x.invalid" + PATH, content=b"{}"), to)
            assert out.headers.get_list("host") == [host]
            assert str(out.url) == url + "chat/completions?api-version=2024-10-21"
