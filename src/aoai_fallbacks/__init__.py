"""aoai-fallbacks: keep LangChain and openai apps answering when Azure OpenAI says 429.

Spread chat completions over several Azure OpenAI deployments: the seed recipe
(`fallback_chain`) or the smart balancer (`balanced_chat_model`,
`balanced_openai_client`), which skips throttled deployments until their
Retry-After has passed and switches at once.
"""

from __future__ import annotations

from aoai_fallbacks._client import balanced_openai_client
from aoai_fallbacks.balancer import Balancer
from aoai_fallbacks.config import Backend, load_backends
from aoai_fallbacks.errors import (
    AOAIFallbacksError,
    Attempt,
    ConfigError,
    NoBackendAvailableError,
    StreamInterruptedError,
)
from aoai_fallbacks.langchain import balanced_chat_model
from aoai_fallbacks.recipe import fallback_chain
from aoai_fallbacks.transport import AsyncBalancingTransport, BalancingTransport

__all__ = [
    "AOAIFallbacksError",
    "AsyncBalancingTransport",
    "Attempt",
    "Backend",
    "Balancer",
    "BalancingTransport",
    "ConfigError",
    "NoBackendAvailableError",
    "StreamInterruptedError",
    "balanced_chat_model",
    "balanced_openai_client",
    "fallback_chain",
    "load_backends",
]
