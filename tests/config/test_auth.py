"""`auth_headers`: the key as ``api-key``, or Microsoft Entra ID through azure-identity."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aoai_fallbacks import Backend, ConfigError
from aoai_fallbacks._auth import auth_headers, entra_token_provider

KEY = "Vt7-AUTH-TEST-KEY-4410"


@pytest.fixture(autouse=True)
def fresh_provider() -> Iterator[None]:
    """Each test sees the per-process provider cache empty, and leaves it so."""
    entra_token_provider.cache_clear()
    yield
    entra_token_provider.cache_clear()


def _backend(api_key: str | None) -> Backend:
    return Backend(
        name="04", endpoint="https://r.openai.azure.com", deployment="gpt-4o", api_key=api_key
    )


def test_a_key_is_sent_as_the_api_key_header() -> None:
    assert auth_headers(_backend(KEY)) == {"api-key": KEY}


@pytest.mark.usefixtures("without_azure")
def test_entra_id_without_azure_identity_names_the_extra_and_the_backend() -> None:
    with pytest.raises(ConfigError) as caught:
        auth_headers(_backend(None))
    message = str(caught.value)
    assert "aoai-fallbacks[entra]" in message
    assert "04 (gpt-4o)" in message


def test_the_entra_token_provider_is_made_once_per_process() -> None:
    pytest.importorskip("azure.identity")
    first = entra_token_provider()
    assert callable(first)
    assert entra_token_provider() is first
