"""A balanced model survives ``dumpd``/``load``: it is dumped without its connection and
loaded connected to the backends of the environment it is loaded in (issue 10, item 9)."""

from __future__ import annotations

import json

import pytest
from langchain_core.load import dumpd, dumps, loads

from aoai_fallbacks import Backend, ConfigError, balanced_chat_model
from aoai_fallbacks.emulator import Emulator
from aoai_fallbacks.langchain import BalancedAzureChatOpenAI

from ._support import DEPLOYMENT

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:The function `load` is in beta"),
]

TRUSTED = {"valid_namespaces": ["aoai_fallbacks"], "allowed_objects": [BalancedAzureChatOpenAI]}
"""How a balanced model is loaded: our namespace, and our class allowed by name."""
ELSEWHERE = [
    Backend(
        name="01",
        endpoint="https://elsewhere.openai.azure.com",
        deployment="gpt-35-turbo",
        api_key="key-of-elsewhere-0000",
    )
]
"""The backends a model was built on, on another machine: none of it may travel."""


def test_the_dump_holds_the_options_and_no_connection() -> None:
    model = balanced_chat_model(ELSEWHERE, temperature=0.2, max_tokens=30)

    data = dumpd(model)
    text = dumps(model)

    assert data["id"] == ["aoai_fallbacks", "langchain", "BalancedAzureChatOpenAI"]
    assert data["kwargs"]["temperature"] == 0.2
    assert data["kwargs"]["max_tokens"] == 30
    for connection in ("azure_endpoint", "openai_api_key", "openai_api_version", "max_retries"):
        assert connection not in data["kwargs"]
    for secret in ("elsewhere", "key-of", "invalid", "placeholder", "gpt-35-turbo"):
        assert secret not in text


def test_a_loaded_model_answers_from_the_backends_of_its_environment(
    emulator: Emulator, environment: pytest.MonkeyPatch
) -> None:
    saved = dumps(balanced_chat_model(ELSEWHERE, temperature=0, max_tokens=12))
    for name, value in emulator.env().items():
        environment.setenv(name, value)

    model = loads(saved, **TRUSTED)  # type: ignore[arg-type]

    assert isinstance(model, BalancedAzureChatOpenAI)
    assert (model.temperature, model.max_tokens) == (0, 12)
    assert [b.endpoint for b in model.balancer.backends] == [
        r.endpoint for r in emulator.resources
    ]
    answer = model.invoke("Tell me a joke")
    assert answer.content
    assert answer.usage_metadata is not None
    assert answer.usage_metadata["output_tokens"] <= 12
    assert emulator.stats(DEPLOYMENT).served == 1
    assert json.loads(dumps(model)) == json.loads(saved)  # and it dumps as it was


def test_loading_where_no_backend_is_configured_names_the_variables(
    environment: pytest.MonkeyPatch,
) -> None:
    saved = dumps(balanced_chat_model(ELSEWHERE))

    with pytest.raises(ConfigError, match="AOAI_ENDPOINT_01"):
        loads(saved, **TRUSTED)  # type: ignore[arg-type]


def test_the_balancer_owns_the_connection_when_built_directly_too(
    environment: pytest.MonkeyPatch,
) -> None:
    environment.setenv("AOAI_ENDPOINT_01", "https://one.openai.azure.com")
    environment.setenv("AOAI_KEY_01", "key-of-one-0000")
    environment.setenv("AOAI_DEPLOYMENT", DEPLOYMENT)

    with pytest.raises(ConfigError, match="do not pass azure_endpoint"):
        BalancedAzureChatOpenAI(azure_endpoint="https://other.openai.azure.com")
