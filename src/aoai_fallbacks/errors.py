"""The library's exceptions: one small hierarchy under `AOAIFallbacksError`.

Messages name the variable or backend at fault and never contain a key.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar, cast

import openai
from langchain_core.exceptions import ModelRateLimitError

from aoai_fallbacks._http import httpx

__all__ = [
    "AOAIFallbacksError",
    "Attempt",
    "ConfigError",
    "NoBackendAvailableError",
    "StreamInterruptedError",
    "UnroutableError",
]


_E = TypeVar("_E", bound="AOAIFallbacksError")


class AOAIFallbacksError(Exception):
    """Base class of every error this library raises itself."""

    @classmethod
    def find(cls: type[_E], error: BaseException | None) -> _E | None:
        """The first error of this class in `error`'s cause/context chain (`error` included).

        For callers above a wrapper: langchain-openai re-raises openai errors
        as its own classes with ours as ``__cause__``, so a LangChain user
        catching ``openai.RateLimitError`` gets `retry_after` and `attempts`
        with ``NoBackendAvailableError.find(exc)``.
        """
        seen: set[int] = set()
        while error is not None and id(error) not in seen:
            if isinstance(error, cls):
                return error
            seen.add(id(error))
            error = error.__cause__ or error.__context__
        return None


class ConfigError(AOAIFallbacksError, ValueError):
    """The configuration (environment, `.env` or arguments) is unusable.

    The message names the variable to fix, e.g.
    ``AOAI_KEY_03 is set but AOAI_ENDPOINT_03 is not``.
    """


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of one request on one backend, as `NoBackendAvailableError` reports it.

    `outcome` is the classification's value (``"throttled"``, ``"failed"``,
    ``"misconfigured"``...), `reason` the short cause (``"429"``,
    ``"timeout"``, ``"DeploymentNotFound"``), `status` the HTTP status if the
    backend answered at all.
    """

    backend: str
    outcome: str
    reason: str
    status: int | None = None

    def __str__(self) -> str:
        return f"{self.backend} {self.outcome} ({self.reason})"


class NoBackendAvailableError(AOAIFallbacksError, openai.RateLimitError, ModelRateLimitError):
    """Every backend is throttled, failing or misconfigured, and waiting longer is not allowed.

    A subclass of `openai.RateLimitError` so code that already handles
    Azure's 429 keeps working, and of langchain-core's ``ModelRateLimitError``
    (``is_retryable``) so LangChain's retry middleware recognises it wherever
    it surfaces unwrapped (the SDK face, a tool that calls it). It carries a
    synthetic 429 response whose ``retry-after`` / ``retry-after-ms`` headers
    say when a backend should be free again and whose JSON body lists the
    attempts. `retry_after` is that time in seconds (None: no backend is
    expected to recover on its own); `attempts` every try of this request, in
    order.

    langchain-openai re-raises an `openai.RateLimitError` as its own
    ``OpenAIRateLimitError`` (also an `openai.RateLimitError` and a
    ``ModelRateLimitError``) with this error as ``__cause__``:
    `NoBackendAvailableError.find(exc)` recovers it.
    """

    retry_after: float | None
    attempts: tuple[Attempt, ...]

    def __init__(
        self,
        message: str,
        *,
        request: httpx.Request,
        retry_after: float | None,
        attempts: Sequence[Attempt] = (),
    ) -> None:
        self.retry_after = retry_after
        self.attempts = tuple(attempts)
        body = {
            "error": {
                "code": "NoBackendAvailable",
                "message": message,
                "retry_after": retry_after,
                "attempts": [asdict(a) for a in self.attempts],
            }
        }
        headers = {}
        if retry_after is not None:
            headers["retry-after"] = str(math.ceil(retry_after))
            headers["retry-after-ms"] = str(math.ceil(retry_after * 1000))
        response = httpx.Response(429, headers=headers, json=body, request=request)
        # openai's annotations name httpx2; `httpx` here is the SDK's own flavour at run time.
        super().__init__(message, response=cast(Any, response), body=body)


class StreamInterruptedError(AOAIFallbacksError, openai.APIConnectionError):
    """A streamed answer broke after it had started; the message names the backend.

    It is never retried on another backend: part of the answer was already
    delivered, and a second answer would not continue the first. The backend
    is recorded as failed and cooled down, so the next requests avoid it.
    """

    backend: str
    """The name of the backend whose stream broke."""

    def __init__(self, message: str, *, backend: str, request: httpx.Request) -> None:
        self.backend = backend
        super().__init__(message=message, request=cast(Any, request))


class UnroutableError(AOAIFallbacksError, openai.NotFoundError):
    """No backend can be asked this request; nothing was sent.

    The operation is one no configured backend serves (embeddings without an
    embedding deployment: the message names the variable to set), one the
    balancer does not spread (listing files, image deployments: the message
    says why), or it names an object (a stored response, a file) whose
    resource this balancer does not know. A subclass of `openai.NotFoundError`
    carrying a synthetic 404, as a single resource would answer a call it
    cannot serve.
    """

    def __init__(self, message: str, *, code: str, request: httpx.Request) -> None:
        error = {"code": code, "message": message}
        response = httpx.Response(404, json={"error": error}, request=request)
        # As the SDK builds its own: `body` is the error object, whence `.code`.
        super().__init__(message, response=cast(Any, response), body=error)
