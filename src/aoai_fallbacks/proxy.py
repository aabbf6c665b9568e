"""The proxy face: one Azure OpenAI-compatible endpoint in front of many backends.

`aoai-fallbacks serve` runs `Proxy`, an ASGI app, under uvicorn, so an app in
any language points its Azure OpenAI SDK (or ``curl``) at one URL and one key
and is balanced like the Python faces: the same `Balancer` and the same
`AsyncBalancingTransport` send every request. The proxy only adds what a
shared endpoint needs around them:

* **Its own keys.** Clients send a proxy key (``AOAI_PROXY_KEYS``) as
  ``api-key`` or ``Authorization: Bearer``; it is checked and dropped, and the
  backends' keys are added per attempt by the transport, so a backend key
  never leaves the process and a client key never reaches Azure. Microsoft
  Entra ID tokens from clients are not validated: a bearer token that is not
  a proxy key is refused.
* **Names clients see.** A client names a deployment the configuration names
  (``AOAI_DEPLOYMENT``, ``AOAI_EMBEDDING_DEPLOYMENT``...) or an alias
  (``AOAI_PROXY_ALIASES``); each attempt is rewritten to its backend's own
  deployment. Any other name gets Azure's 404 ``DeploymentNotFound``.
* **Bad input answered here**, in Azure's shapes, before any backend is
  touched: unknown path (404), wrong method (405), missing or wrong key
  (401), a body over ``AOAI_PROXY_MAX_BODY`` (413), malformed JSON (400).
* **Streams relayed chunk by chunk**, each awaited by the server before the
  next is read from the backend (uvicorn waits while its write buffer is
  full), so a slow reader slows its backend stream instead of filling memory.
  A client that goes away cancels its request, wherever it is: in line, at a
  backend, or streaming; the backend connection is closed and the balancer
  gets its place back.
* ``GET /healthz``, ``/readyz``, ``/status`` (behind the proxy key) and
  ``/metrics`` (Prometheus), and one access-log line per request on the
  ``aoai_fallbacks.proxy`` logger: method, path (never the query), status,
  backend, seconds, seconds waited.

It is a raw ASGI app rather than a framework's: each request crosses it once,
and the relay needs the disconnect and backpressure handling written out.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from aoai_fallbacks import _wire as wire
from aoai_fallbacks._http import httpx
from aoai_fallbacks._log import RedactingFilter, register_secret
from aoai_fallbacks._routes import route
from aoai_fallbacks.config import read_environment
from aoai_fallbacks.errors import (
    ConfigError,
    NoBackendAvailableError,
    StreamInterruptedError,
    UnroutableError,
)
from aoai_fallbacks.transport import BACKEND_HEADER, WAITED, AsyncBalancingTransport

if TYPE_CHECKING:
    from aoai_fallbacks._metrics import ProxyMetrics
    from aoai_fallbacks.balancer import Balancer
    from aoai_fallbacks.config import Backend, Pool

__all__ = ["DEFAULT_MAX_BODY", "Proxy", "ProxySettings", "from_environment", "load_proxy_settings"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DEFAULT_MAX_BODY = 32 * 1024 * 1024
"""Bytes a request body may have (``AOAI_PROXY_MAX_BODY``): room for images sent inline."""
MIN_KEY_LENGTH = 16
"""Characters a proxy key needs at least: it guards every backend's quota."""

access_log = logging.getLogger("aoai_fallbacks.proxy")
"""One line per request: what was asked, how it ended, never a key or a query string."""
if not any(isinstance(f, RedactingFilter) for f in access_log.filters):
    access_log.addFilter(RedactingFilter())

_UPSTREAM = "https://aoai-fallbacks.invalid"  # what the transport replaces per attempt
_CLASSIC = re.compile(r"/openai/deployments/(?P<name>[^/]+)/")
_V1 = "/openai/v1/"
# Not passed on to a backend: the client's credentials and the hop's own headers. Without
# accept-encoding the backend answers uncompressed, as the transport reads and relays it.
_NOT_FORWARDED = frozenset(
    {
        b"api-key",
        b"authorization",
        b"host",
        b"content-length",
        b"transfer-encoding",
        b"connection",
        b"keep-alive",
        b"te",
        b"upgrade",
        b"proxy-authorization",
        b"accept-encoding",
    }
)
_NOT_RETURNED = frozenset(
    {b"content-length", b"transfer-encoding", b"connection", b"keep-alive", b"server", b"date"}
)
_METHODS = ("GET", "POST", "DELETE")
_JSON_TYPES = (b"application/json", b"")  # the SDKs send JSON; a bare POST is read as JSON too
_OPERATIONS: dict[str, wire.Operation] = {
    "chat completions": "chat",
    "completions": "chat",
    "responses": "responses",
    "embeddings": "embeddings",
}
"""A balanced route's operation, as Azure's ``OperationNotSupported`` names it."""
_CLIENT_CLOSED = 499  # nginx's code for "the client went away first": logged, never sent


@dataclass(frozen=True)
class ProxySettings:
    """What the proxy adds to the backends' configuration.

    `keys`: the keys clients authenticate with (``AOAI_PROXY_KEYS``, comma
    separated); none means no authentication, which `aoai-fallbacks serve`
    allows on loopback only. `aliases`: deployment names clients may use
    besides the configured ones (``AOAI_PROXY_ALIASES``). `max_body`: the
    largest request body, in bytes (``AOAI_PROXY_MAX_BODY``).
    """

    keys: tuple[str, ...] = field(default=(), repr=False)
    aliases: tuple[str, ...] = ()
    max_body: int = DEFAULT_MAX_BODY

    def __post_init__(self) -> None:
        for index, key in enumerate(self.keys, 1):
            if len(key) < MIN_KEY_LENGTH or not key.isascii() or not key.isprintable():
                raise ConfigError(
                    f"AOAI_PROXY_KEYS: key {index} must be at least {MIN_KEY_LENGTH} printable "
                    "ASCII characters (generate one: python -c 'import secrets; "
                    "print(secrets.token_urlsafe(32))')"
                )
        if self.max_body < 1:
            raise ConfigError(
                f"AOAI_PROXY_MAX_BODY must be a positive number of bytes, got {self.max_body}"
            )

    def check_against(self, backends: Iterable[Backend]) -> None:
        """Refuse a client key that is also a backend's: clients would hold Azure's keys."""
        for backend in backends:
            if backend.api_key is not None and backend.api_key in self.keys:
                raise ConfigError(
                    f"AOAI_PROXY_KEYS holds the key of backend {backend.name}: a client key "
                    "must never be a backend's, or clients hold Azure's keys"
                )

    def __repr__(self) -> str:
        return (
            f"ProxySettings(keys=<{len(self.keys)} key(s)>, aliases={self.aliases!r}, "
            f"max_body={self.max_body})"
        )


def load_proxy_settings(
    environ: Mapping[str, str] | None = None, *, dotenv: str | Path | bool = True
) -> ProxySettings:
    """The proxy's settings from ``AOAI_PROXY_*`` (`environ` and `dotenv` as `load_backends`)."""
    variables = read_environment(environ, dotenv=dotenv)

    def listed(name: str) -> tuple[str, ...]:
        return tuple(part.strip() for part in variables.get(name, "").split(",") if part.strip())

    text = variables.get("AOAI_PROXY_MAX_BODY", "").strip()
    if text and not text.isdigit():
        raise ConfigError(f"AOAI_PROXY_MAX_BODY must be a whole number of bytes, got {text!r}")
    return ProxySettings(
        keys=listed("AOAI_PROXY_KEYS"),
        aliases=listed("AOAI_PROXY_ALIASES"),
        max_body=int(text) if text else DEFAULT_MAX_BODY,
    )


class _TooLarge(Exception):
    pass


class _Gone(Exception):
    """The client disconnected before its request was whole."""


class Proxy:
    """An ASGI app answering as one Azure OpenAI resource, balancing over `balancer`'s backends.

    Build one per process (uvicorn worker) and close it with `aclose` (the
    ASGI lifespan's shutdown does). `settings`: `ProxySettings`.
    """

    def __init__(self, balancer: Balancer, settings: ProxySettings | None = None) -> None:
        from aoai_fallbacks._metrics import ProxyMetrics

        self.balancer = balancer
        self.settings = ProxySettings() if settings is None else settings
        self.settings.check_against(balancer.backends)
        for key in self.settings.keys:
            register_secret(key)
        self._keys = tuple(key.encode() for key in self.settings.keys)
        self.deployments = frozenset(b.deployment for b in balancer.backends) | frozenset(
            self.settings.aliases
        )
        """The deployment names clients may send."""
        self._by_pool = {
            pool: frozenset(b.deployment for b in balancer.backends if b.pool == pool)
            for pool in {b.pool for b in balancer.backends}
        }
        self._transport = AsyncBalancingTransport(balancer)
        self.metrics: ProxyMetrics = ProxyMetrics(balancer)
        self._plain: dict[str, Callable[[Scope, Send], Awaitable[int]]] = {
            "/healthz": self._healthz,
            "/readyz": self._readyz,
            "/status": self._status,
            "/metrics": self._metrics,
        }

    async def aclose(self) -> None:
        """Close the connections to the backends."""
        await self._transport.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        # Websockets (the realtime API) are not balanced; uvicorn refuses the upgrade.

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        path: str = scope["path"]
        plain = self._plain.get(path)
        backend: str | None = None
        waited: float | None = None
        if plain is not None:
            status = await plain(scope, send)
        else:
            status, backend, waited = await self._relay(scope, receive, send)
        seconds = time.perf_counter() - started
        self.metrics.request(status, seconds, waited)
        if access_log.isEnabledFor(logging.INFO):
            client = scope.get("client")
            access_log.info(
                "%s",
                json.dumps(
                    {
                        "method": scope["method"],
                        "path": path,
                        "status": status,
                        "backend": backend,
                        "seconds": round(seconds, 4),
                        "waited": None if waited is None else round(waited, 4),
                        "client": None if client is None else f"{client[0]}:{client[1]}",
                    }
                ),
            )

    # -- the relay ---------------------------------------------------------------------------

    async def _relay(
        self, scope: Scope, receive: Receive, send: Send
    ) -> tuple[int, str | None, float | None]:
        """Answer one ``/openai/...`` request: (status, backend that answered, seconds waited)."""
        method: str = scope["method"]
        path: str = scope["path"]
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        if not path.startswith("/openai/"):
            return await _answer(send, *wire.resource_not_found()), None, None
        if not self._authorized(headers):
            return await _answer(send, *wire.unauthorized()), None, None
        found = route(method, path)
        if found.kind == "refused":
            allowed = [m for m in _METHODS if route(m, path).names_deployment]
            if allowed:  # inference asked with the wrong method; other refusals say why below
                allow = [(b"allow", ", ".join(allowed).encode())]
                return await _answer(send, *wire.method_not_allowed(allowed), allow), None, None
        classic = _CLASSIC.match(path)
        if classic is not None and found.names_deployment:
            refusal = self._refuse_name(classic["name"], found.pool, found.operation)
            if refusal is not None:
                return await _answer(send, *refusal), None, None
        try:
            body = await _read_body(receive, headers, self.settings.max_body)
        except _TooLarge:
            return await _answer(send, *wire.too_large(self.settings.max_body)), None, None
        except _Gone:
            return _CLIENT_CLOSED, None, None
        if body and _header(headers, b"content-type").partition(b";")[0].strip() in _JSON_TYPES:
            try:
                document = json.loads(body)
            except (ValueError, RecursionError):  # RecursionError: nested too deep to parse
                return await _answer(send, *wire.bad_json()), None, None
            if (
                found.names_deployment
                and path.startswith(_V1)
                and isinstance(document, dict)
                and isinstance(document.get("model"), str)
            ):
                refusal = self._refuse_name(document["model"], found.pool, found.operation)
                if refusal is not None:
                    return await _answer(send, *refusal), None, None
        request = httpx.Request(
            method,
            _UPSTREAM + (scope.get("raw_path") or path.encode()).decode("latin-1") + _query(scope),
            headers=[(k, v) for k, v in headers if k not in _NOT_FORWARDED],
            content=body,
        )
        return await self._exchange(request, receive, send)

    async def _exchange(
        self, request: httpx.Request, receive: Receive, send: Send
    ) -> tuple[int, str | None, float | None]:
        """Send `request` through the balancer and relay its answer; a disconnect cancels both."""
        gone = finished = False

        async def watch(scope: anyio.CancelScope) -> None:
            nonlocal gone
            while (await receive())["type"] != "http.disconnect":
                pass
            if not finished:  # the server also says "disconnect" once the answer is sent
                gone = True
                scope.cancel()

        status, backend, waited = _CLIENT_CLOSED, None, None
        async with anyio.create_task_group() as group:
            group.start_soon(watch, group.cancel_scope)
            try:
                response = await self._transport.handle_async_request(request)
            except (NoBackendAvailableError, UnroutableError) as error:
                response = error.response  # a synthetic 429 or 404, its body read
            except (httpx.TransportError, OSError) as error:  # a pinned call's one backend
                code, body = _bad_gateway(error)
                response = httpx.Response(code, json=body)
            backend = response.headers.get(BACKEND_HEADER)
            waited = response.extensions.get(WAITED)
            status = response.status_code
            try:
                await _relay_response(send, response)
            except StreamInterruptedError:
                pass  # logged by the transport; the client sees the stream end unfinished
            finally:
                finished = True
                with anyio.CancelScope(shield=True):
                    await response.aclose()
            group.cancel_scope.cancel()
        return (_CLIENT_CLOSED if gone else status), backend, waited

    def _refuse_name(self, name: str, pool: Pool, operation: str) -> tuple[int, Any] | None:
        """Azure's answer to a deployment name the request cannot use; None if it can.

        An alias serves every operation; a configured name, the operations of
        its own pool (a chat deployment asked for embeddings is a 400, as on
        Azure); any other name is a 404 ``DeploymentNotFound``.
        """
        if name in self._by_pool.get(pool, ()) or name in self.settings.aliases:
            return None
        if name in self.deployments:
            return wire.operation_not_supported(_OPERATIONS.get(operation, "chat"), name)
        return wire.deployment_not_found()

    def _authorized(self, headers: Iterable[tuple[bytes, bytes]]) -> bool:
        if not self._keys:
            return True
        offered = b""
        for name, value in headers:
            if name == b"api-key":
                offered = value
                break
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                offered = value[7:].strip()
        # Compare with every key, always: the time taken does not tell which one nearly matched.
        matches = [hmac.compare_digest(offered, key) for key in self._keys]
        return any(matches)

    # -- operations ------------------------------------------------------------------------------

    async def _healthz(self, scope: Scope, send: Send) -> int:
        return await _answer(send, 200, {"status": "alive"})

    async def _readyz(self, scope: Scope, send: Send) -> int:
        """Ready while some backend can be sent to now or recovers on its own.

        A backend cooling down after a 429 comes back in seconds, and every
        proxy in front of the same deployments sees the same cooldowns: taking
        them all out of a load balancer's rotation for it would turn a short
        wait into an outage. Only quarantined (misconfigured) backends do not
        count.
        """
        states = {s.name: s.state for s in self.balancer.snapshot()}
        usable = sorted(name for name, state in states.items() if state != "quarantined")
        return await _answer(
            send,
            200 if usable else 503,
            {"ready": bool(usable), "usable": usable, "states": states},
        )

    async def _status(self, scope: Scope, send: Send) -> int:
        if not self._authorized(scope["headers"]):
            return await _answer(send, *wire.unauthorized())
        store = self.balancer.store
        return await _answer(
            send,
            200,
            {
                "backends": [asdict(status) for status in self.balancer.snapshot()],
                "waiting": self.balancer.waiting,
                "deployments": sorted(self.deployments),
                "process": os.getpid(),  # which worker answered
                "store": None
                if store is None
                else {"kind": type(store).__name__, "up": getattr(store, "up", True)},
            },
        )

    async def _metrics(self, scope: Scope, send: Send) -> int:
        content_type, body = self.metrics.exposition(_header(scope["headers"], b"accept"))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", content_type.encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
        return 200


async def _relay_response(send: Send, response: httpx.Response) -> None:
    """Send `response` on: read bodies whole, streams one chunk at a time as they come."""
    headers = [
        (name.lower(), value)
        for name, value in response.headers.raw
        if name.lower() not in _NOT_RETURNED
    ]
    if response.is_stream_consumed:  # read by the transport, and decoded if it was encoded
        content = response.content
        headers = [(n, v) for n, v in headers if n != b"content-encoding"]
        headers.append((b"content-length", str(len(content)).encode()))
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": headers}
        )
        await send({"type": "http.response.body", "body": content})
        return
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    async for chunk in response.aiter_raw():
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def _read_body(
    receive: Receive, headers: Iterable[tuple[bytes, bytes]], limit: int
) -> bytes:
    declared = _header(headers, b"content-length")
    if declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Gone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes:
    return next((value for key, value in headers if key == name), b"")


def _query(scope: Scope) -> str:
    query: bytes = scope.get("query_string", b"")
    return "?" + query.decode("latin-1") if query else ""


async def _answer(
    send: Send, status: int, body: object, headers: Iterable[tuple[bytes, bytes]] = ()
) -> int:
    content = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})
    return status


def _bad_gateway(error: BaseException) -> tuple[int, dict[str, Any]]:
    message = f"The resource holding this object could not be reached ({type(error).__name__})."
    return 502, {"error": {"code": "BadGateway", "message": message}}


def from_environment(*, dotenv: bool = True) -> Proxy:
    """A proxy configured as every face is: backends, ``AOAI_REDIS_URL`` and ``AOAI_PROXY_*``.

    Read from the environment and, with `dotenv`, a ``.env`` file. A uvicorn
    factory (``uvicorn --factory aoai_fallbacks.proxy:from_environment``):
    each worker process builds its own, and shares what it learns only
    through the Redis store, when one is configured.
    """
    from aoai_fallbacks.balancer import Balancer
    from aoai_fallbacks.config import load_backends
    from aoai_fallbacks.redis_store import environment_store

    balancer = Balancer(load_backends(dotenv=dotenv), store=environment_store(dotenv=dotenv))
    return Proxy(balancer, load_proxy_settings(dotenv=dotenv))
