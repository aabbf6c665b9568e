"""aoai-fallbacks: keep LangChain and openai apps answering when Azure OpenAI says 429.

Spread chat completions, Responses and embeddings over several Azure OpenAI
deployments: the seed recipe (`fallback_chain`, `fallback_embeddings`) or the
smart balancer (`balanced_chat_model`, `balanced_embeddings`,
`balanced_openai_client`), which skips throttled deployments until their
Retry-After has passed and switches at once.

The LangChain faces are imported on first use (PEP 562 module ``__getattr__``):
LangChain takes longer to import than everything else here together, and a
plain-SDK user never needs it. So is `RedisStore`, whose redis-py is optional.
"""

import importlib
import typing

from aoai_fallbacks._client import balanced_openai_client
from aoai_fallbacks.balancer import Balancer
from aoai_fallbacks.config import Backend, load_backends
from aoai_fallbacks.errors import (
    AOAIFallbacksError,
    Attempt,
    ConfigError,
    NoBackendAvailableError,
    StreamInterruptedError,
    UnroutableError,
)
from aoai_fallbacks.transport import AsyncBalancingTransport, BalancingTransport

if typing.TYPE_CHECKING:
    from aoai_fallbacks.langchain import balanced_chat_model, balanced_embeddings
    from aoai_fallbacks.recipe import fallback_chain, fallback_embeddings
    from aoai_fallbacks.redis_store import RedisStore

__version__ = "0.1.0"
"""This package's version; the one place it is written (pyproject.toml reads it from here)."""

__all__ = [
    "AOAIFallbacksError",
    "AsyncBalancingTransport",
    "Attempt",
    "Backend",
    "Balancer",
    "BalancingTransport",
    "ConfigError",
    "NoBackendAvailableError",
    "RedisStore",
    "StreamInterruptedError",
    "UnroutableError",
    "balanced_chat_model",
    "balanced_embeddings",
    "balanced_openai_client",
    "fallback_chain",
    "fallback_embeddings",
    "load_backends",
]

_LAZY = {
    "balanced_chat_model": "aoai_fallbacks.langchain",
    "balanced_embeddings": "aoai_fallbacks.langchain",
    "fallback_chain": "aoai_fallbacks.recipe",
    "fallback_embeddings": "aoai_fallbacks.recipe",
    "RedisStore": "aoai_fallbacks.redis_store",
}
"""Public names imported on first use, and the module each comes from."""


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups find it without coming here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
