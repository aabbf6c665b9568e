"""`load_backends` on plain dictionaries: what a good configuration becomes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aoai_fallbacks import ConfigError
from aoai_fallbacks.config import DEFAULT_API_VERSION, Backend, load_backends

KEY = "k3y-0f-backend-one-8d1f"


def test_one_backend_with_the_shared_deployment() -> None:
    backends = load_backends(
        {
            "AOAI_ENDPOINT_01": "https://one.openai.azure.com/",
            "AOAI_KEY_01": KEY,
            "AOAI_DEPLOYMENT": "gpt-35-turbo",
        }
    )
    assert backends == [
        Backend(
            name="01",
            endpoint="https://one.openai.azure.com",
            deployment="gpt-35-turbo",
            api_key=KEY,
        )
    ]
    assert backends[0].api_version == DEFAULT_API_VERSION
    assert backends[0].label == "01 (gpt-35-turbo)"


def test_backends_are_ordered_numerically_with_gaps_and_per_backend_settings() -> None:
    backends = load_backends(
        {
            "AOAI_ENDPOINT_10": "https://ten.openai.azure.com",
            "AOAI_KEY_10": "key-ten-000",
            "AOAI_ENDPOINT_2": "https://two.openai.azure.com",
            "AOAI_KEY_2": "key-two-000",
            "AOAI_ENDPOINT_03": "https://three.openai.azure.com",
            "AOAI_KEY_03": "key-three-0",
            "AOAI_DEPLOYMENT": "gpt-35-turbo",
            "AOAI_DEPLOYMENT_03": "gpt-35-turbo-16k",
            "AOAI_PRIORITY_10": "2",
            "AOAI_WEIGHT_2": "3.5",
            "AOAI_API_VERSION": "2025-04-01-preview",
        }
    )
    assert [(b.name, b.deployment, b.priority, b.weight) for b in backends] == [
        ("2", "gpt-35-turbo", 1, 3.5),
        ("03", "gpt-35-turbo-16k", 1, 1.0),
        ("10", "gpt-35-turbo", 2, 1.0),
    ]
    assert {b.api_version for b in backends} == {"2025-04-01-preview"}


def test_the_larger_tier_follows_every_base_backend() -> None:
    backends = load_backends(
        {
            "AOAI_ENDPOINT_01": "https://one.openai.azure.com",
            "AOAI_KEY_01": "key-one-000",
            "AOAI_ENDPOINT_02": "https://two.openai.azure.com",
            "AOAI_KEY_02": "key-two-000",
            "AOAI_DEPLOYMENT": "gpt4-8k",
            "AOAI_LARGE_DEPLOYMENT": "gpt4-32k",
            "AOAI_LARGE_DEPLOYMENT_02": "gpt4-turbo",
            "AOAI_PRIORITY_02": "2",
        }
    )
    assert [(b.name, b.tier, b.deployment, b.priority) for b in backends] == [
        ("01", "base", "gpt4-8k", 1),
        ("02", "base", "gpt4-8k", 2),
        ("01-large", "large", "gpt4-32k", 1),
        ("02-large", "large", "gpt4-turbo", 2),
    ]
    assert backends[3].endpoint == "https://two.openai.azure.com"
    assert backends[3].api_key == "key-two-000"


def test_no_key_means_entra_id() -> None:
    pytest.importorskip("azure.identity")
    (backend,) = load_backends(
        {"AOAI_ENDPOINT_01": "https://one.openai.azure.com", "AOAI_DEPLOYMENT": "gpt-4o"}
    )
    assert backend.api_key is None
    assert "api_key=<entra>" in repr(backend)


def test_loopback_may_use_plain_http() -> None:
    for endpoint in ("http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9"):
        (backend,) = load_backends(
            {"AOAI_ENDPOINT_1": endpoint, "AOAI_KEY_1": "a-key", "AOAI_DEPLOYMENT": "gpt-4o"}
        )
        assert backend.endpoint == endpoint


def test_a_gateway_may_put_the_api_under_a_path() -> None:
    (backend,) = load_backends(
        {
            "AOAI_ENDPOINT_01": "https://apim.azure-api.net/openai-eastus/",
            "AOAI_KEY_01": KEY,
            "AOAI_DEPLOYMENT": "gpt-4o",
        }
    )
    assert backend.endpoint == "https://apim.azure-api.net/openai-eastus"


def test_values_are_stripped() -> None:
    (backend,) = load_backends(
        {
            "AOAI_ENDPOINT_01": "  https://one.openai.azure.com/ ",
            "AOAI_KEY_01": f" {KEY}\n",
            "AOAI_DEPLOYMENT": " gpt-35-turbo ",
        }
    )
    assert backend.endpoint == "https://one.openai.azure.com"
    assert backend.api_key == KEY
    assert backend.deployment == "gpt-35-turbo"


def test_unrelated_variables_are_left_alone() -> None:
    backends = load_backends(
        {
            "AOAI_ENDPOINT_01": "https://one.openai.azure.com",
            "AOAI_KEY_01": KEY,
            "AOAI_DEPLOYMENT": "gpt-4o",
            "AZURE_OPENAI_ENDPOINT": "https://elsewhere.example",
            "AOAI_REDIS_URL": "redis://localhost",
            "PATH": "/usr/bin",
        }
    )
    assert [b.name for b in backends] == ["01"]


def _write_env(path: Path, **values: str) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


def test_an_explicit_mapping_ignores_dotenv_unless_given_a_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = _write_env(
        tmp_path / ".env",
        AOAI_ENDPOINT_05="https://five.openai.azure.com",
        AOAI_KEY_05="key-five-000",
        AOAI_DEPLOYMENT="from-file",
    )
    monkeypatch.chdir(tmp_path)
    mapping = {"AOAI_ENDPOINT_01": "https://one.openai.azure.com", "AOAI_KEY_01": KEY}
    with pytest.raises(ConfigError, match="AOAI_DEPLOYMENT"):
        load_backends(mapping)  # the .env in the working directory is not read
    backends = load_backends(mapping, dotenv=env_file)
    assert [(b.name, b.deployment) for b in backends] == [("01", "from-file"), ("05", "from-file")]


def test_the_real_environment_wins_over_dotenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_env(
        tmp_path / ".env",
        AOAI_ENDPOINT_01="https://from-file.openai.azure.com",
        AOAI_KEY_01="key-from-file",
        AOAI_DEPLOYMENT="file-deployment",
    )
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")  # found by searching upwards
    for name in [n for n in os.environ if n.startswith("AOAI_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AOAI_DEPLOYMENT", "env-deployment")

    (backend,) = load_backends()
    assert backend.endpoint == "https://from-file.openai.azure.com"
    assert backend.api_key == "key-from-file"
    assert backend.deployment == "env-deployment"

    with pytest.raises(ConfigError, match="AOAI_ENDPOINT_01"):
        load_backends(dotenv=False)
