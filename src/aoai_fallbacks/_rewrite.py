"""Turn the request the SDK built into the request one backend must receive.

The SDK is given a placeholder endpoint and key; the transport decides per
attempt where the request goes. For each attempt it points the request at
the backend's endpoint, names the backend's deployment (the
``/openai/deployments/{deployment}/`` path segment, or ``model`` in the JSON
body for the ``/openai/v1/`` API), sets the backend's ``api-version`` and
replaces the credentials. Everything else (headers, body, extensions) is kept
as the SDK built it.

This runs on every attempt of every request, so it touches the body only
when it must (the v1 API), works out each backend's URL for a given path
once, and hands httpx a request with nothing left to parse.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote

from aoai_fallbacks._http import httpx

if TYPE_CHECKING:
    from aoai_fallbacks.config import Backend

__all__ = ["estimate_tokens", "is_event_stream", "rewrite"]

_DEPLOYMENT = re.compile(r"^(/openai/deployments/)[^/]+(/.*)?$")
_V1 = "/openai/v1/"
_MAX_TOKENS = re.compile(rb'"max_(?:completion_|output_)?tokens"\s*:\s*(\d{1,9})')
_CHARS_PER_TOKEN = 4
# Replaced per attempt: where the request goes, who it is from, how long it is.
_DROPPED = frozenset({b"host", b"api-key", b"authorization"})
_DROPPED_WITH_BODY = _DROPPED | {b"content-length"}
_LENGTH_HEADERS = frozenset({b"content-length", b"transfer-encoding"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "QUERY"})  # httpx sends their length, even 0
_TIMEOUT_KEYS = ("connect", "read", "write", "pool")


def _endpoint(endpoint: str) -> str:
    """The endpoint normalised: ``scheme://host[:port][/prefix]``, no trailing slash."""
    return str(httpx.URL(endpoint)).rstrip("/")


def _version_param(api_version: str) -> str:
    return "api-version=" + quote(api_version, safe="")


def _query(query: str, api_version: str | None) -> str:
    """The query string with ``api-version`` replaced (None: kept as it is), with its ``?``.

    Plain string work: parsing and re-encoding the query costs more than the
    whole rest of the rewrite, and only this one parameter changes.
    """
    if api_version is None:
        return f"?{query}" if query else ""
    kept = [p for p in query.split("&") if p and not p.startswith("api-version=")]
    kept.append(_version_param(api_version))
    return "?" + "&".join(kept)


def _openai_path(path: str) -> str:
    """The (percent-encoded) path from its ``/openai/`` segment on, after any endpoint's prefix."""
    start = path.find("/openai/")
    return path[start:] if start >= 0 else path


def _with_model(content: bytes, model: str) -> bytes:
    """The JSON body with ``model`` set; a body that is not a JSON object is left alone."""
    try:
        document = json.loads(content)
    except ValueError:
        return content
    if not isinstance(document, dict):
        return content
    document["model"] = model
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _attempt_timeout(
    timeout: object, default: float | None, connect: float | None
) -> dict[str, float | None]:
    """The request's httpx timeout extension for one attempt.

    Each phase keeps the caller's limit; a phase the caller left unlimited
    gets `default`; connecting takes at most `connect` either way.
    """
    given = timeout if isinstance(timeout, Mapping) else {}
    phases: dict[str, float | None] = {
        key: default if given.get(key) is None else given[key] for key in _TIMEOUT_KEYS
    }
    if connect is not None:
        limit = phases["connect"]
        phases["connect"] = connect if limit is None else min(limit, connect)
    return phases


@functools.lru_cache(maxsize=1024)
def _target(
    endpoint: str, deployment: str, api_version: str, raw_path: str
) -> tuple[httpx.URL, bool]:
    """Where a request for `raw_path` (path and query) goes on this backend, and whether a
    deployment's name goes in its body (the v1 API, and the Responses API, name no deployment
    in the path).

    Cached: a process sends the same few paths to the same few backends over
    and over, and building an `httpx.URL` parses the whole string in Python.
    """
    path, _, query = raw_path.partition("?")
    path = _openai_path(path)
    match = _DEPLOYMENT.match(path)
    if match is not None:
        path = f"{match.group(1)}{quote(deployment, safe='')}{match.group(2) or ''}"
    v1 = path.startswith(_V1)  # the v1 API needs no version
    url = httpx.URL(_endpoint(endpoint) + path + _query(query, None if v1 else api_version))
    return url, match is None


def rewrite(
    request: httpx.Request,
    backend: Backend,
    auth: Mapping[str, str],
    *,
    names_deployment: bool = True,
    attempt_timeout: float | None = None,
    connect_timeout: float | None = None,
) -> httpx.Request:
    """`request` as `backend` must receive it, with the credentials in `auth`.

    `request`'s body must already be read (`request.read()`): it is sent
    again on every attempt. `names_deployment`: the request runs on a
    deployment (chat, embeddings, Responses), named in its path or its body's
    ``model``; other requests (a file, a stored response) keep their body. The caller's httpx timeout is kept, phase by
    phase (connect, read, write, pool); `attempt_timeout` fills in the phases
    it left unlimited, and `connect_timeout` caps connecting.

    The request is built from its finished parts (a `URL`, raw headers, a
    byte stream) so httpx has nothing left to parse or encode: the ``Host``
    and ``Content-Length`` headers it would add are set here.
    """
    url, in_body = _target(
        backend.endpoint,
        backend.deployment,
        backend.api_version,
        request.url.raw_path.decode("ascii"),
    )
    content = request.content
    dropped = _DROPPED
    if names_deployment and in_body and content:
        content = _with_model(content, backend.deployment)
        dropped = _DROPPED_WITH_BODY
    headers = [(b"Host", url.netloc)]
    sized = False  # a Content-Length or Transfer-Encoding is kept
    for key, value in request.headers.raw:
        name = key.lower()
        if name not in dropped:
            headers.append((key, value))
            sized = sized or name in _LENGTH_HEADERS
    headers.extend((k.encode("ascii"), v.encode("ascii")) for k, v in auth.items())
    if not sized and (content or request.method in _BODY_METHODS):
        headers.append((b"Content-Length", str(len(content)).encode("ascii")))
    extensions = dict(request.extensions)
    extensions["timeout"] = _attempt_timeout(
        extensions.get("timeout"), attempt_timeout, connect_timeout
    )
    outgoing = httpx.Request(
        request.method,
        url,
        headers=headers,
        stream=httpx.ByteStream(content),
        extensions=extensions,
    )
    outgoing.read()  # as `content=` would: the body is in memory, and `.content` says so
    return outgoing


def estimate_tokens(content: bytes) -> int:
    """A cheap upper-bound guess of what Azure charges for this request, in tokens.

    Azure charges a request on arrival: prompt tokens plus ``max_tokens``. The
    body's length over four stands in for the prompt (JSON punctuation makes
    it an overestimate) so the body need not be parsed.
    """
    match = _MAX_TOKENS.search(content)
    return len(content) // _CHARS_PER_TOKEN + (int(match.group(1)) if match else 0)


def is_event_stream(headers: httpx.Headers) -> bool:
    """Whether an answer is server-sent events (a streamed completion)."""
    content_type: str = headers.get("content-type", "")
    return content_type.startswith("text/event-stream")
