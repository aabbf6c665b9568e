"""How a request proves who it is to one backend: its key, or a Microsoft Entra ID token.

A backend without a key signs in with `DefaultAzureCredential` (managed
identity, workload identity, Azure CLI, ...). The credential and its token
provider are made once per process: the provider caches the token and renews it
before it expires, so asking it on every request is cheap, while a new
credential per request would go back to the identity endpoint each time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from aoai_fallbacks._log import register_token
from aoai_fallbacks.errors import ConfigError

if TYPE_CHECKING:
    from aoai_fallbacks.config import Backend

__all__ = ["ENTRA_SCOPE", "auth_headers", "entra_token_provider"]

ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"
"""The token scope Azure OpenAI (Azure AI services) accepts."""


def auth_headers(backend: Backend) -> dict[str, str]:
    """The header that authenticates a request to `backend`: ``api-key`` or a Bearer token."""
    if backend.api_key is not None:
        return {"api-key": backend.api_key}
    try:
        provider = entra_token_provider()
    except ConfigError as exc:
        raise ConfigError(
            f"backend {backend.label} has no API key, so it signs in with Microsoft Entra ID: "
            f"{exc}"
        ) from None
    token = provider()
    register_token(token)
    return {"Authorization": f"Bearer {token}"}


@functools.cache
def entra_token_provider() -> Callable[[], str]:
    """The process's Entra ID token provider for Azure OpenAI, made on first use.

    Raises `ConfigError` naming the ``entra`` extra when azure-identity is not
    installed (it is optional: key-only users should not need it).
    """
    try:
        from azure.identity import DefaultAzureCredential, get_bearer_token_provider
    except ImportError:
        raise ConfigError(
            "Microsoft Entra ID needs azure-identity: pip install 'aoai-fallbacks[entra]', "
            "or give the backend a key (AOAI_KEY_nn)"
        ) from None
    provider: Callable[[], str] = get_bearer_token_provider(DefaultAzureCredential(), ENTRA_SCOPE)
    return provider
