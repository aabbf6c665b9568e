"""The openai SDK face: a genuine `openai.AzureOpenAI` whose every request is balanced.

The client is an ordinary SDK client pointed at a placeholder endpoint with a
placeholder key, built with ``max_retries=0`` and an `httpx` client whose
transport is the balancer's: the transport rewrites each attempt for its
backend (endpoint, deployment, api-version, key or token), so the placeholder
never leaves the process. Everything the SDK offers (streaming, tools,
structured output, raw responses) works unchanged above it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

import openai

from aoai_fallbacks.balancer import Balancer
from aoai_fallbacks.config import load_backends
from aoai_fallbacks.errors import ConfigError
from aoai_fallbacks.transport import AsyncBalancingTransport, BalancingTransport

if TYPE_CHECKING:
    from aoai_fallbacks.config import Backend

__all__ = ["balanced_openai_client"]

PLACEHOLDER_ENDPOINT = "https://aoai-fallbacks.invalid"
"""What the SDK believes it talks to; the transport replaces it on every attempt (``.invalid``
can never resolve, so a request that somehow bypassed the transport fails instead of leaking)."""

PLACEHOLDER_KEY = "placeholder-replaced-per-backend"
"""What the SDK believes its key is; the transport replaces it with the backend's credentials."""

OWNED_OPTIONS = {
    "azure_endpoint": "the endpoints come from the backends (AOAI_ENDPOINT_nn)",
    "base_url": "the endpoints come from the backends (AOAI_ENDPOINT_nn)",
    "api_key": "the keys come from the backends (AOAI_KEY_nn)",
    "azure_ad_token": "tokens come from the backends (no AOAI_KEY_nn: Microsoft Entra ID)",
    "azure_ad_token_provider": "tokens come from the backends (no AOAI_KEY_nn: Microsoft Entra ID)",
    "api_version": "the api-version comes from the backends (AOAI_API_VERSION)",
    "max_retries": "the balancer owns every retry (tune Balancer(wait_budget=...))",
    "http_client": "the balancer's transport is the HTTP client",
    "http_async_client": "the balancer's transport is the HTTP client",
}
"""Options a face sets itself, and why a caller may not: passing one is a `ConfigError`."""


SHARED_BALANCERS = 8
"""How many sets of backends keep their shared balancer; the least recently used goes first."""

_shared: OrderedDict[tuple[Backend, ...], Balancer] = OrderedDict()
_shared_lock = threading.Lock()


def balancer_for(
    backends: Sequence[Backend] | None, balancer: Balancer | None, face: str
) -> Balancer:
    """The balancer a face runs on: the one given, else the one shared over the same backends.

    Faces built without a balancer over equal backends (`backends`, or the
    same environment) share one `Balancer`, so what one learns keeps every
    other away from a throttled backend, even a model built afresh for each
    request. The backends are the whole key: a face takes no balancer
    settings, and a caller who wants other settings, or a balancer of its
    own, passes one. Strong references, bounded by `SHARED_BALANCERS`: a
    weak one would die with the model built per request, and its lesson too.
    """
    if balancer is not None:
        if backends is not None:
            raise ConfigError(
                f"{face}(): pass backends or balancer, not both "
                "(a balancer already holds its backends)"
            )
        return balancer
    key = tuple(load_backends() if backends is None else backends)
    with _shared_lock:
        shared = _shared.get(key)
        if shared is None:
            shared = _shared[key] = Balancer(key)
            if len(_shared) > SHARED_BALANCERS:
                _shared.popitem(last=False)
        else:
            _shared.move_to_end(key)
        return shared


def refuse_owned(options: Mapping[str, object], face: str) -> None:
    """Raise `ConfigError` naming the first option the face sets itself."""
    for name in options:
        if name in OWNED_OPTIONS:
            raise ConfigError(f"{face}(): do not pass {name}: {OWNED_OPTIONS[name]}")


def http_client(balancer: Balancer) -> openai.DefaultHttpxClient:
    """The SDK's own sync HTTP client class, sending through the balancer's transport."""
    return openai.DefaultHttpxClient(transport=BalancingTransport(balancer))


def http_async_client(balancer: Balancer) -> openai.DefaultAsyncHttpxClient:
    """The SDK's own async HTTP client class, sending through the balancer's transport."""
    return openai.DefaultAsyncHttpxClient(transport=AsyncBalancingTransport(balancer))


@overload
def balanced_openai_client(
    backends: Sequence[Backend] | None = None,
    *,
    async_: Literal[False] = False,
    balancer: Balancer | None = None,
    **kwargs: Any,
) -> openai.AzureOpenAI: ...
@overload
def balanced_openai_client(
    backends: Sequence[Backend] | None = None,
    *,
    async_: Literal[True],
    balancer: Balancer | None = None,
    **kwargs: Any,
) -> openai.AsyncAzureOpenAI: ...
def balanced_openai_client(
    backends: Sequence[Backend] | None = None,
    *,
    async_: bool = False,
    balancer: Balancer | None = None,
    **kwargs: Any,
) -> openai.AzureOpenAI | openai.AsyncAzureOpenAI:
    """An `openai.AzureOpenAI` (or `AsyncAzureOpenAI` with ``async_=True``) over many backends.

    `backends`: the deployments to spread over (None: read ``AOAI_*`` from the
    environment and ``.env``); every face built over the same backends shares
    one `Balancer`. `balancer`: a `Balancer` of your own, tuned or kept apart
    (then pass no backends).
    `kwargs` go to the SDK client (``timeout``, ``default_headers``...),
    except the connection settings the balancer owns.

    The ``model`` argument of each call is required by the SDK but each
    attempt goes to its backend's deployment. When no backend can answer
    within the wait budget the call raises `NoBackendAvailableError`, an
    `openai.RateLimitError`.
    """
    face = "balanced_openai_client"
    refuse_owned(kwargs, face)
    chosen = balancer_for(backends, balancer, face)
    common: dict[str, Any] = {
        "azure_endpoint": PLACEHOLDER_ENDPOINT,
        "api_key": PLACEHOLDER_KEY,
        "api_version": chosen.backends[0].api_version,
        "max_retries": 0,
    }
    if async_:
        return openai.AsyncAzureOpenAI(
            **common,
            http_client=http_async_client(chosen),
            **kwargs,
        )
    return openai.AzureOpenAI(
        **common,
        http_client=http_client(chosen),
        **kwargs,
    )
