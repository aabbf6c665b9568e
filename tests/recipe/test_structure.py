"""What `fallback_chain` builds, without sending anything: order, retries, kwargs, tiers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from langchain_core.exceptions import ContextOverflowError
from langchain_core.runnables import RunnableWithFallbacks
from langchain_openai import AzureChatOpenAI

from aoai_fallbacks import Backend, ConfigError, fallback_chain
from aoai_fallbacks.recipe import FALLBACK_ERRORS


def _backend(name: str, **fields: Any) -> Backend:
    values: dict[str, Any] = {
        "endpoint": f"https://r{name}.openai.azure.com",
        "deployment": "gpt-35-turbo",
        "api_key": f"key-of-{name}-0000",
        **fields,
    }
    return Backend(name=name, **values)


def _flat(chain: Any) -> list[AzureChatOpenAI]:
    """The models of a (possibly nested) fallback chain, in the order they are tried."""
    if isinstance(chain, RunnableWithFallbacks):
        return [m for part in chain.runnables for m in _flat(part)]
    assert isinstance(chain, AzureChatOpenAI)
    return [chain]


def test_a_single_backend_is_the_model_itself_with_its_retries() -> None:
    model = fallback_chain([_backend("01")], last_max_retries=4)
    assert isinstance(model, AzureChatOpenAI)
    assert model.max_retries == 4


def test_every_model_but_the_last_has_no_retries() -> None:
    chain = fallback_chain([_backend("01"), _backend("02"), _backend("03")])
    assert isinstance(chain, RunnableWithFallbacks)
    assert chain.exceptions_to_handle == FALLBACK_ERRORS
    models = _flat(chain)
    assert [m.azure_endpoint for m in models] == [
        "https://r01.openai.azure.com",
        "https://r02.openai.azure.com",
        "https://r03.openai.azure.com",
    ]
    assert [m.max_retries for m in models] == [0, 0, 6]
    assert [m.openai_api_key.get_secret_value() for m in models if m.openai_api_key] == [
        "key-of-01-0000",
        "key-of-02-0000",
        "key-of-03-0000",
    ]


def test_model_kwargs_reach_every_model() -> None:
    chain = fallback_chain([_backend("01"), _backend("02")], temperature=0.7, max_tokens=100)
    assert [(m.temperature, m.max_tokens) for m in _flat(chain)] == [(0.7, 100), (0.7, 100)]


def test_backend_settings_reach_their_model() -> None:
    (model,) = _flat(
        fallback_chain([_backend("01", deployment="gpt-4o", api_version="2025-04-01-preview")])
    )
    assert model.deployment_name == "gpt-4o"
    assert model.openai_api_version == "2025-04-01-preview"


def test_lower_priority_numbers_come_first() -> None:
    chain = fallback_chain(
        [_backend("01", priority=2), _backend("02"), _backend("03", priority=2)]
    )
    assert [m.azure_endpoint for m in _flat(chain)] == [
        "https://r02.openai.azure.com",
        "https://r01.openai.azure.com",
        "https://r03.openai.azure.com",
    ]


def test_the_larger_tier_follows_the_base_tier_and_catches_overflows() -> None:
    chain = fallback_chain([_backend("01"), _backend("02")], larger_deployment="gpt4-32k")
    assert isinstance(chain, RunnableWithFallbacks)
    assert ContextOverflowError in chain.exceptions_to_handle
    base, large = chain.runnables
    assert isinstance(base, RunnableWithFallbacks)
    assert ContextOverflowError not in base.exceptions_to_handle  # same window: skip them
    models = _flat(chain)
    assert [(str(m.azure_endpoint)[8:11], m.deployment_name, m.max_retries) for m in models] == [
        ("r01", "gpt-35-turbo", 0),
        ("r02", "gpt-35-turbo", 0),
        ("r01", "gpt4-32k", 0),
        ("r02", "gpt4-32k", 6),
    ]
    assert _flat(large)[-1].max_retries == 6


def test_large_tier_backends_are_used_as_given() -> None:
    chain = fallback_chain(
        [_backend("01"), _backend("01-large", tier="large", deployment="gpt4-32k")]
    )
    assert [(m.deployment_name, m.max_retries) for m in _flat(chain)] == [
        ("gpt-35-turbo", 0),
        ("gpt4-32k", 6),
    ]


def test_the_larger_tier_cannot_be_given_twice() -> None:
    backends = [_backend("01"), _backend("01-large", tier="large", deployment="gpt4-32k")]
    with pytest.raises(ConfigError, match="larger_deployment"):
        fallback_chain(backends, larger_deployment="gpt4-32k")


def test_the_larger_deployment_must_differ_from_the_base() -> None:
    with pytest.raises(ConfigError, match="larger_deployment"):
        fallback_chain([_backend("01")], larger_deployment="gpt-35-turbo")


def test_no_base_backend_is_refused() -> None:
    with pytest.raises(ConfigError, match="base-tier chat deployment"):
        fallback_chain([])


@pytest.mark.parametrize("name", ["max_retries", "api_key", "azure_deployment", "api_version"])
def test_per_backend_settings_cannot_be_overridden(name: str) -> None:
    with pytest.raises(TypeError, match=name):
        fallback_chain([_backend("01")], **{name: "x"})  # type: ignore[arg-type]


def test_a_keyless_backend_signs_in_with_entra_id() -> None:
    pytest.importorskip("azure.identity")
    (model,) = _flat(fallback_chain([_backend("01", api_key=None)]))
    assert model.azure_ad_token_provider is not None
    assert model.openai_api_key is None


def test_without_backends_it_reads_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here or above
    for name in [n for n in os.environ if n.startswith(("AOAI_", "AZURE_OPENAI_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AOAI_ENDPOINT_01", "https://env.openai.azure.com")
    monkeypatch.setenv("AOAI_KEY_01", "key-from-the-environment")
    monkeypatch.setenv("AOAI_DEPLOYMENT", "gpt4-8k")
    monkeypatch.setenv("AOAI_LARGE_DEPLOYMENT", "gpt4-32k")
    chain = fallback_chain()
    assert [(m.azure_endpoint, m.deployment_name) for m in _flat(chain)] == [
        ("https://env.openai.azure.com", "gpt4-8k"),
        ("https://env.openai.azure.com", "gpt4-32k"),
    ]
