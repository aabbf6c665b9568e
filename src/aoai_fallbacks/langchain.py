"""The LangChain face: `balanced_chat_model()` returns a genuine `AzureChatOpenAI`.

Nothing above the wire changes: the model is langchain-openai's own class,
built with ``max_retries=0`` and with both its sync and async HTTP clients on
the balancer's transports. So ``invoke``, ``ainvoke``, ``batch``, streaming,
``bind_tools``, ``with_structured_output``, usage metadata and tracing all
behave as they do against one deployment, while each request goes to the
best backend available and moves on at once when one is throttled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from langchain_openai import AzureChatOpenAI

from aoai_fallbacks._client import (
    PLACEHOLDER_ENDPOINT,
    PLACEHOLDER_KEY,
    balancer_for,
    http_async_client,
    http_client,
    refuse_owned,
)
from aoai_fallbacks.balancer import Balancer

if TYPE_CHECKING:
    from aoai_fallbacks.config import Backend

__all__ = ["balanced_chat_model"]


def balanced_chat_model(
    backends: Sequence[Backend] | None = None,
    *,
    balancer: Balancer | None = None,
    **kwargs: Any,
) -> AzureChatOpenAI:
    """An `AzureChatOpenAI` whose requests are spread over `backends` by one `Balancer`.

    `backends`: the deployments (None: read ``AOAI_*`` from the environment
    and ``.env``). `balancer`: an existing `Balancer` to share with other
    models and clients (then pass no backends). `kwargs` go to
    `AzureChatOpenAI` (``temperature``, ``streaming``, ``timeout``...), except
    the connection settings the balancer owns (endpoint, key, api_version,
    retries, HTTP clients), which raise `ConfigError`.

    When no backend can answer within the wait budget, LangChain raises its
    ``OpenAIRateLimitError``, an `openai.RateLimitError` whose ``__cause__``
    is our `NoBackendAvailableError` (recover it with
    ``NoBackendAvailableError.find(exc)``) and whose response carries
    ``retry-after``/``retry-after-ms`` headers.
    """
    face = "balanced_chat_model"
    refuse_owned(kwargs, face)
    chosen = balancer_for(backends, balancer, face)
    first = chosen.backends[0]
    kwargs.setdefault("azure_deployment", first.deployment)
    return AzureChatOpenAI(
        azure_endpoint=PLACEHOLDER_ENDPOINT,
        api_key=PLACEHOLDER_KEY,  # type: ignore[arg-type]  # pydantic turns it into a SecretStr
        api_version=first.api_version,
        max_retries=0,
        http_client=http_client(chosen),
        http_async_client=http_async_client(chosen),
        **kwargs,
    )
