"""The LangChain face: `balanced_chat_model()` returns a genuine `AzureChatOpenAI`,
`balanced_embeddings()` a genuine `AzureOpenAIEmbeddings`.

Nothing above the wire changes: the model is langchain-openai's own class (a
subclass that only connects it), built with ``max_retries=0`` and with both
its sync and async HTTP clients on the balancer's transports. So ``invoke``,
``ainvoke``, ``batch``, streaming, ``bind_tools``, ``with_structured_output``,
usage metadata and tracing all behave as they do against one deployment,
while each request goes to the best backend available and moves on at once
when one is throttled.

Serialized with ``dumpd``, a balanced model keeps only the caller's options
(``temperature``, ``max_tokens``...): no endpoint, key or placeholder. Loaded
again (``load(..., valid_namespaces=["aoai_fallbacks"],
allowed_objects=[BalancedAzureChatOpenAI])``) it connects itself to the
backends of the environment it is loaded in, as `balanced_chat_model()` with
no backends would.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.load.serializable import SerializedConstructor, SerializedNotImplemented
from langchain_openai import AzureChatOpenAI, AzureOpenAIEmbeddings
from pydantic import ConfigDict, Field

from aoai_fallbacks._client import (
    PLACEHOLDER_ENDPOINT,
    PLACEHOLDER_KEY,
    balancer_for,
    http_async_client,
    http_client,
    refuse_owned,
)
from aoai_fallbacks.balancer import Balancer
from aoai_fallbacks.config import DEPLOYMENT_VARIABLE
from aoai_fallbacks.errors import ConfigError

if TYPE_CHECKING:
    from aoai_fallbacks.config import Backend, Pool

__all__ = [
    "BalancedAzureChatOpenAI",
    "BalancedAzureOpenAIEmbeddings",
    "balanced_chat_model",
    "balanced_embeddings",
]

_CONNECTION_FIELDS = (
    "azure_endpoint",
    "openai_api_key",
    "openai_api_version",
    "deployment_name",
    "max_retries",
)
"""What the balancer sets (the placeholder endpoint and key, the first backend's
api-version and deployment, no retries): left out of a serialized model, so
that loading it connects it to the backends of the day instead."""


class BalancedAzureChatOpenAI(AzureChatOpenAI):
    """An `AzureChatOpenAI` whose requests one `Balancer` spreads over many deployments.

    `balanced_chat_model()` builds it. Built directly, as ``load()`` does with
    a serialized one, it takes the same options: ``balancer=`` (default: one
    over the backends of the environment and ``.env``) and any option of
    `AzureChatOpenAI` but the connection settings the balancer owns.
    """

    balancer: Balancer = Field(exclude=True, repr=False)
    """The balancer every request of this model goes through."""

    def __init__(self, **options: Any) -> None:
        connected = _connected(options, face=type(self).__name__, pool="chat")
        # langchain-openai asks for streamed usage only when it built its own HTTP
        # clients, not knowing what another client talks to; these talk to Azure,
        # which reports it, so a streamed answer carries usage_metadata as usual.
        super().__init__(**{"stream_usage": True, **connected})

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        """This module, not langchain-openai's: a loaded model must be a balanced one."""
        return ["aoai_fallbacks", "langchain"]

    def to_json(self) -> SerializedConstructor | SerializedNotImplemented:
        """The caller's options, without the connection the balancer made (see module doc)."""
        serialized = super().to_json()
        if serialized["type"] == "constructor":
            for name in _CONNECTION_FIELDS:
                serialized["kwargs"].pop(name, None)
        return serialized


class BalancedAzureOpenAIEmbeddings(AzureOpenAIEmbeddings):
    """An `AzureOpenAIEmbeddings` whose requests one `Balancer` spreads over many deployments.

    `balanced_embeddings()` builds it; built directly it takes ``balancer=``
    and any option of `AzureOpenAIEmbeddings` but the connection settings.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)  # merged with the parent's

    balancer: Balancer = Field(exclude=True, repr=False)
    """The balancer every request of this model goes through."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**_connected(options, face=type(self).__name__, pool="embeddings"))


def _connected(options: dict[str, Any], *, face: str, pool: Pool) -> dict[str, Any]:
    """`options` plus the connection to the balancer's transports (refusing any of its own)."""
    refuse_owned(options, face)
    chosen = options.pop("balancer", None)
    if chosen is None:
        chosen = balancer_for(None, None, face)
    first = next((b for b in chosen.backends if b.pool == pool), None)
    if first is None:
        setting = DEPLOYMENT_VARIABLE[pool]
        raise ConfigError(
            f"{face}: no backend has a{'n embedding' if pool == 'embeddings' else ' chat'} "
            f"deployment: set {setting} (or {setting}_nn)"
        )
    connection: dict[str, Any] = {
        "balancer": chosen,
        "azure_endpoint": PLACEHOLDER_ENDPOINT,
        "api_key": PLACEHOLDER_KEY,
        "api_version": first.api_version,
        "max_retries": 0,
        "http_client": http_client(chosen),
        "http_async_client": http_async_client(chosen),
    }
    if options.keys().isdisjoint({"azure_deployment", "deployment_name", "deployment"}):
        connection["azure_deployment"] = first.deployment
    return {**connection, **options}


def balanced_chat_model(
    backends: Sequence[Backend] | None = None,
    *,
    balancer: Balancer | None = None,
    **kwargs: Any,
) -> BalancedAzureChatOpenAI:
    """An `AzureChatOpenAI` whose requests are spread over `backends` by one `Balancer`.

    `backends`: the deployments (None: read ``AOAI_*`` from the environment
    and ``.env``). `balancer`: an existing `Balancer` to share with other
    models and clients (then pass no backends). `kwargs` go to
    `AzureChatOpenAI` (``temperature``, ``streaming``, ``timeout``...), except
    the connection settings the balancer owns (endpoint, key, api_version,
    retries, HTTP clients), which raise `ConfigError`.

    When no backend can answer within the wait budget, LangChain raises its
    ``OpenAIRateLimitError``, an `openai.RateLimitError` and a langchain-core
    ``ModelRateLimitError`` whose ``__cause__`` is our
    `NoBackendAvailableError` (recover it with
    ``NoBackendAvailableError.find(exc)``) and whose response carries
    ``retry-after``/``retry-after-ms`` headers.
    """
    face = "balanced_chat_model"
    refuse_owned(kwargs, face)
    return BalancedAzureChatOpenAI(balancer=balancer_for(backends, balancer, face), **kwargs)


def balanced_embeddings(
    backends: Sequence[Backend] | None = None,
    *,
    balancer: Balancer | None = None,
    **kwargs: Any,
) -> BalancedAzureOpenAIEmbeddings:
    """An `AzureOpenAIEmbeddings` whose requests are spread over the embedding deployments.

    The twin of `balanced_chat_model`: the same `backends` (their embedding
    deployments, ``AOAI_EMBEDDING_DEPLOYMENT[_nn]``), the same shared
    `Balancer`, so the chat model and the embeddings of one app learn together
    which resources are down or misconfigured, while each deployment keeps
    its own cooldowns and quota. `kwargs` go to `AzureOpenAIEmbeddings`
    (``dimensions``, ``chunk_size``...), except the connection settings.

    langchain-openai counts each text's tokens with tiktoken before sending
    (``check_embedding_ctx_length``), which downloads its tables on first
    use; pass ``check_embedding_ctx_length=False`` where that cannot work.
    """
    face = "balanced_embeddings"
    refuse_owned(kwargs, face)
    return BalancedAzureOpenAIEmbeddings(balancer=balancer_for(backends, balancer, face), **kwargs)
