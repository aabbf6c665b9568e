"""The seed recipe: one `AzureChatOpenAI` per backend, joined with `.with_fallbacks()`.

Every model but the very last is built with ``max_retries=0``, so a throttled
backend hands the request to the next one at once instead of sleeping through
its Retry-After; the very last keeps its retries (``last_max_retries``, the
SDK honours ``retry-after-ms``) as the last resort. An optional larger-model
tier (gpt-4 8k -> 32k) follows every base deployment.

It is deliberately simple: it remembers nothing between requests, so every
request starts again at the first backend, throttled or not. That makes it the
baseline the smart balancer (`balanced_chat_model`) is measured against.

Which errors fall back (`FALLBACK_ERRORS`):

* 429 (`openai.RateLimitError`) and 5xx (`openai.InternalServerError`): the
  backend is busy or failing, another may not be;
* timeouts and refused or reset connections (`openai.APIConnectionError`);
* 401/403/404 (`openai.AuthenticationError`, `PermissionDeniedError`,
  `NotFoundError`): this backend is misconfigured (wrong key, missing
  deployment), the others may be fine.

Any other 4xx, a bad request or Azure's ``content_filter``, is returned at once:
the same request fails the same way everywhere, and trying every backend would
only burn their quota. The exception is a prompt too long for the model
(``context_length_exceeded``, raised as langchain-core's
`ContextOverflowError`): it goes straight to the larger tier when there is
one, skipping the other base backends, whose models have the same window.
Without a larger tier it is returned at once.

`fallback_embeddings` is the same recipe for embeddings: one
`AzureOpenAIEmbeddings` per embedding deployment (``max_retries=0`` but the
last), tried in turn through ``with_fallbacks`` on the same errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import openai
from langchain_core.embeddings import Embeddings
from langchain_core.exceptions import ContextOverflowError
from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_openai import AzureChatOpenAI, AzureOpenAIEmbeddings
from langchain_openai.chat_models.base import OpenAIContextOverflowError

from aoai_fallbacks._auth import entra_token_provider
from aoai_fallbacks.config import DEPLOYMENT_VARIABLE, Backend, larger_tier, load_backends
from aoai_fallbacks.errors import ConfigError

__all__ = ["FALLBACK_ERRORS", "FallbackEmbeddings", "fallback_chain", "fallback_embeddings"]

FALLBACK_ERRORS: tuple[type[BaseException], ...] = (
    openai.RateLimitError,
    openai.InternalServerError,
    openai.APIConnectionError,
    openai.AuthenticationError,
    openai.PermissionDeniedError,
    openai.NotFoundError,
)
"""Errors that send a request to the next backend: the backend's fault, not the request's."""


_SET_PER_BACKEND = frozenset(
    {
        "azure_endpoint",
        "api_key",
        "openai_api_key",
        "azure_deployment",
        "deployment_name",
        "api_version",
        "openai_api_version",
        "azure_ad_token_provider",
        "max_retries",
        "deployment",
    }
)

Model = Runnable[LanguageModelInput, BaseMessage]
_In = TypeVar("_In")
_Out = TypeVar("_Out")


def fallback_chain(
    backends: Sequence[Backend] | None = None,
    *,
    larger_deployment: str | None = None,
    last_max_retries: int = 6,
    **model_kwargs: Any,
) -> Model:
    """The seed recipe for LangChain 1.x: a `RunnableWithFallbacks` of `AzureChatOpenAI`.

    `backends` None reads the environment and `.env` (`load_backends`). The
    base backends are tried in order of priority (then configuration order;
    weights are for the smart balancer), then the larger tier: the backends of
    tier ``"large"``, or `larger_deployment` on every base endpoint. Each
    model gets `model_kwargs` (``temperature``, ``max_tokens``, ...) and
    ``max_retries=0``; the very last keeps `last_max_retries`. A single
    backend is returned as the model itself, with its retries.

    The base tier falls back on `FALLBACK_ERRORS`; a context overflow skips
    to the larger tier (see the module's documentation for why).
    """
    _refuse_per_backend(model_kwargs, "fallback_chain")
    chosen = [b for b in (load_backends() if backends is None else backends) if b.pool == "chat"]
    base = sorted((b for b in chosen if b.tier == "base"), key=lambda b: b.priority)
    large = sorted((b for b in chosen if b.tier == "large"), key=lambda b: b.priority)
    if not base:
        raise ConfigError(
            "fallback_chain() needs at least one base-tier chat deployment "
            "(AOAI_DEPLOYMENT or AOAI_DEPLOYMENT_nn)"
        )
    if larger_deployment is not None:
        if large:
            raise ConfigError(
                "the larger tier is given twice: by larger_deployment and by backends of "
                "tier 'large' (AOAI_LARGE_DEPLOYMENT); keep one"
            )
        large = [_larger(b, larger_deployment) for b in base]

    ordered = base + large
    models = [
        _model(b, max_retries=last_max_retries if i == len(ordered) - 1 else 0, **model_kwargs)
        for i, b in enumerate(ordered)
    ]
    base_chain = _chain(models[: len(base)], FALLBACK_ERRORS)
    if not large:
        return base_chain
    large_chain = _chain(models[len(base) :], FALLBACK_ERRORS)
    return base_chain.with_fallbacks(
        [large_chain], exceptions_to_handle=(*FALLBACK_ERRORS, ContextOverflowError)
    )


def fallback_embeddings(
    backends: Sequence[Backend] | None = None,
    *,
    last_max_retries: int = 6,
    **model_kwargs: Any,
) -> FallbackEmbeddings:
    """The seed recipe for embeddings: `AzureOpenAIEmbeddings` per embedding deployment, in turn.

    `backends` None reads the environment and `.env`; their embedding
    deployments (``AOAI_EMBEDDING_DEPLOYMENT[_nn]``) are tried in order of
    priority, each with ``max_retries=0`` but the last (`last_max_retries`),
    on `FALLBACK_ERRORS`. `model_kwargs` go to every model (``dimensions``,
    ``check_embedding_ctx_length``...).
    """
    _refuse_per_backend(model_kwargs, "fallback_embeddings")
    chosen = sorted(
        (b for b in (load_backends() if backends is None else backends) if b.pool == "embeddings"),
        key=lambda b: b.priority,
    )
    if not chosen:
        setting = DEPLOYMENT_VARIABLE["embeddings"]
        raise ConfigError(
            "fallback_embeddings() needs at least one embedding deployment: set "
            f"{setting} (or {setting}_nn)"
        )
    last = len(chosen) - 1
    return FallbackEmbeddings(
        [
            AzureOpenAIEmbeddings(
                azure_endpoint=b.endpoint,
                azure_deployment=b.deployment,
                api_version=b.api_version,
                max_retries=last_max_retries if i == last else 0,
                **_credentials(b),
                **model_kwargs,
            )
            for i, b in enumerate(chosen)
        ]
    )


class FallbackEmbeddings(Embeddings):
    """`Embeddings` that asks its models in turn, moving on at `FALLBACK_ERRORS`.

    LangChain's `Embeddings` are not runnables, so they have no
    ``with_fallbacks``; this joins each model's methods with it instead, and
    stays an `Embeddings` that vector stores and retrievers accept.
    """

    def __init__(self, models: Sequence[Embeddings]) -> None:
        self.models = tuple(models)
        self._documents: Runnable[list[str], list[list[float]]] = _chain(
            [RunnableLambda(m.embed_documents, afunc=m.aembed_documents) for m in self.models],
            FALLBACK_ERRORS,
        )
        self._query: Runnable[str, list[float]] = _chain(
            [RunnableLambda(m.embed_query, afunc=m.aembed_query) for m in self.models],
            FALLBACK_ERRORS,
        )

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._documents.invoke(texts)

    def embed_query(self, text: str) -> list[float]:
        return self._query.invoke(text)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return await self._documents.ainvoke(texts)

    async def aembed_query(self, text: str) -> list[float]:
        return await self._query.ainvoke(text)


def _refuse_per_backend(model_kwargs: dict[str, Any], face: str) -> None:
    clash = sorted(_SET_PER_BACKEND & model_kwargs.keys())
    if clash:
        raise TypeError(
            f"{face}() sets {', '.join(clash)} itself, per backend; "
            "configure backends instead (AOAI_* variables or Backend fields)"
        )


def _larger(backend: Backend, deployment: str) -> Backend:
    if deployment == backend.deployment:
        raise ConfigError(
            f"larger_deployment {deployment!r} is the base deployment of backend "
            f"{backend.label}: name the larger model's deployment"
        )
    return larger_tier(backend, deployment)


def _chain(
    models: Sequence[Runnable[_In, _Out]], errors: tuple[type[BaseException], ...]
) -> Runnable[_In, _Out]:
    first, *rest = models
    return first.with_fallbacks(rest, exceptions_to_handle=errors) if rest else first


def _credentials(backend: Backend) -> dict[str, Any]:
    if backend.api_key is not None:
        return {"api_key": backend.api_key}
    return {"azure_ad_token_provider": entra_token_provider()}


def _model(backend: Backend, *, max_retries: int, **model_kwargs: Any) -> AzureChatOpenAI:
    return _AzureChatOpenAI(
        azure_endpoint=backend.endpoint,
        azure_deployment=backend.deployment,
        api_version=backend.api_version,
        max_retries=max_retries,
        **_credentials(backend),
        **model_kwargs,
    )


class _AzureChatOpenAI(AzureChatOpenAI):
    """`AzureChatOpenAI` that reports a prompt too long as a `ContextOverflowError`, always.

    langchain-openai recognises Azure's 400 ``context_length_exceeded`` by
    finding that code in the exception's text, which openai 3.x no longer puts
    there (only the message); the overflow would then look like any other bad
    request and never reach the larger tier. This reads the error's code
    instead, in the four methods LangChain documents for a chat model to
    implement, and changes nothing else.
    """

    def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
        with _overflow_reported():
            return super()._generate(*args, **kwargs)

    async def _agenerate(self, *args: Any, **kwargs: Any) -> ChatResult:
        with _overflow_reported():
            return await super()._agenerate(*args, **kwargs)

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        with _overflow_reported():
            yield from super()._stream(*args, **kwargs)

    async def _astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        with _overflow_reported():
            async for chunk in super()._astream(*args, **kwargs):
                yield chunk


@contextmanager
def _overflow_reported() -> Iterator[None]:
    try:
        yield
    except openai.BadRequestError as error:
        if isinstance(error, ContextOverflowError) or error.code != "context_length_exceeded":
            raise
        raise OpenAIContextOverflowError(
            message=error.message, response=error.response, body=error.body
        ) from error
