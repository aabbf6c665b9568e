"""Every malformed configuration is a `ConfigError` that names the variable and hides the key."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from aoai_fallbacks import ConfigError
from aoai_fallbacks.config import load_backends

KEY = "Zq9-SECRET-KEY-VALUE-7731"
OTHER_KEY = "Yx4-OTHER-SECRET-VALUE-2210"

GOOD = {
    "AOAI_ENDPOINT_01": "https://one.openai.azure.com/",
    "AOAI_KEY_01": KEY,
    "AOAI_ENDPOINT_02": "https://two.openai.azure.com/",
    "AOAI_KEY_02": OTHER_KEY,
    "AOAI_DEPLOYMENT": "gpt-35-turbo",
}

# id: (changes to GOOD, None removes a variable; the variable the message must name)
CASES: dict[str, tuple[dict[str, str | None], str]] = {
    "key-without-endpoint": ({"AOAI_KEY_03": KEY}, "AOAI_ENDPOINT_03"),
    "endpoint-removed-key-kept": ({"AOAI_ENDPOINT_02": None}, "AOAI_ENDPOINT_02"),
    "deployment-without-endpoint": ({"AOAI_DEPLOYMENT_04": "gpt-4o"}, "AOAI_ENDPOINT_04"),
    "priority-without-endpoint": ({"AOAI_PRIORITY_07": "2"}, "AOAI_ENDPOINT_07"),
    "weight-without-endpoint": ({"AOAI_WEIGHT_08": "2"}, "AOAI_ENDPOINT_08"),
    "large-without-endpoint": ({"AOAI_LARGE_DEPLOYMENT_09": "gpt4-32k"}, "AOAI_ENDPOINT_09"),
    "empty-endpoint": ({"AOAI_ENDPOINT_01": ""}, "AOAI_ENDPOINT_01"),
    "blank-endpoint": ({"AOAI_ENDPOINT_02": "   "}, "AOAI_ENDPOINT_02"),
    "empty-key": ({"AOAI_KEY_02": ""}, "AOAI_KEY_02"),
    "empty-shared-deployment": ({"AOAI_DEPLOYMENT": ""}, "AOAI_DEPLOYMENT"),
    "empty-own-deployment": ({"AOAI_DEPLOYMENT_01": " "}, "AOAI_DEPLOYMENT_01"),
    "no-deployment": ({"AOAI_DEPLOYMENT": None}, "AOAI_DEPLOYMENT_01"),
    "empty-api-version": ({"AOAI_API_VERSION": ""}, "AOAI_API_VERSION"),
    "malformed-api-version": ({"AOAI_API_VERSION": "May 2024"}, "AOAI_API_VERSION"),
    "empty-large": ({"AOAI_LARGE_DEPLOYMENT": ""}, "AOAI_LARGE_DEPLOYMENT"),
    "large-same-as-base": (
        {"AOAI_LARGE_DEPLOYMENT_02": "gpt-35-turbo"},
        "AOAI_LARGE_DEPLOYMENT_02",
    ),
    "priority-not-a-number": ({"AOAI_PRIORITY_02": "high"}, "AOAI_PRIORITY_02"),
    "priority-fractional": ({"AOAI_PRIORITY_01": "1.5"}, "AOAI_PRIORITY_01"),
    "priority-zero": ({"AOAI_PRIORITY_01": "0"}, "AOAI_PRIORITY_01"),
    "priority-negative": ({"AOAI_PRIORITY_02": "-1"}, "AOAI_PRIORITY_02"),
    "weight-not-a-number": ({"AOAI_WEIGHT_01": "heavy"}, "AOAI_WEIGHT_01"),
    "weight-zero": ({"AOAI_WEIGHT_02": "0"}, "AOAI_WEIGHT_02"),
    "weight-negative": ({"AOAI_WEIGHT_01": "-2"}, "AOAI_WEIGHT_01"),
    "weight-nan": ({"AOAI_WEIGHT_01": "nan"}, "AOAI_WEIGHT_01"),
    "weight-infinite": ({"AOAI_WEIGHT_02": "inf"}, "AOAI_WEIGHT_02"),
    "http-not-loopback": ({"AOAI_ENDPOINT_02": "http://two.openai.azure.com"}, "AOAI_ENDPOINT_02"),
    "not-a-url": ({"AOAI_ENDPOINT_01": "one.openai.azure.com"}, "AOAI_ENDPOINT_01"),
    "ftp-scheme": ({"AOAI_ENDPOINT_01": "ftp://one.openai.azure.com"}, "AOAI_ENDPOINT_01"),
    "request-url-not-base": (
        {
            "AOAI_ENDPOINT_02": "https://two.openai.azure.com/openai/deployments/gpt-35-turbo/"
            "chat/completions?api-version=2024-10-21"
        },
        "AOAI_ENDPOINT_02",
    ),
    "endpoint-ending-in-openai": (
        {"AOAI_ENDPOINT_01": "https://one.openai.azure.com/openai/"},
        "AOAI_ENDPOINT_01",
    ),
    "credentials-in-url": (
        {"AOAI_ENDPOINT_01": f"https://user:{KEY}@one.openai.azure.com"},
        "AOAI_ENDPOINT_01",
    ),
    "duplicate-endpoint-and-deployment": (
        {"AOAI_ENDPOINT_02": "https://ONE.openai.azure.com"},
        "AOAI_ENDPOINT_02",
    ),
    "duplicate-large-tier": (
        {
            "AOAI_ENDPOINT_02": "https://one.openai.azure.com",
            "AOAI_DEPLOYMENT_02": "gpt-35-turbo-2",
            "AOAI_LARGE_DEPLOYMENT": "gpt4-32k",
        },
        "AOAI_LARGE_DEPLOYMENT_nn",
    ),
    "large-tier-is-another-base": (
        {
            "AOAI_ENDPOINT_02": "https://one.openai.azure.com",
            "AOAI_DEPLOYMENT_02": "gpt4-32k",
            "AOAI_LARGE_DEPLOYMENT_01": "gpt4-32k",
        },
        "AOAI_ENDPOINT_02",
    ),
    "same-number-spelt-twice": (
        {"AOAI_ENDPOINT_1": "https://three.openai.azure.com", "AOAI_KEY_1": KEY},
        "AOAI_ENDPOINT_1",
    ),
    "typo-in-numbered-variable": ({"AOAI_ENDPIONT_03": "https://x.example"}, "AOAI_ENDPOINT_03"),
    "typo-in-key-variable": ({"AOAI_KYE_02": KEY}, "AOAI_KEY_02"),
    "unknown-numbered-variable": ({"AOAI_MODEL_01": "gpt-4o"}, "AOAI_MODEL_01"),
    "typo-in-shared-variable": ({"AOAI_DEPLOYMNET": "gpt-4o"}, "AOAI_DEPLOYMENT"),
    "typo-in-api-version": ({"AOAI_API_VERISON": "2024-10-21"}, "AOAI_API_VERSION"),
}


def _configure(changes: dict[str, str | None]) -> dict[str, str]:
    environ = dict(GOOD)
    for name, value in changes.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    return environ


def _assert_safe(message: str) -> None:
    assert KEY not in message
    assert OTHER_KEY not in message


@pytest.mark.parametrize(("changes", "variable"), CASES.values(), ids=CASES.keys())
def test_malformed_configuration(changes: dict[str, str | None], variable: str) -> None:
    environ = _configure(changes)
    with pytest.raises(ConfigError) as caught:
        load_backends(environ)
    message = str(caught.value)
    assert variable in message
    _assert_safe(message)
    _assert_safe(repr(caught.value))
    assert caught.value.__cause__ is None or KEY not in str(caught.value.__cause__)


def test_the_good_configuration_is_good() -> None:
    """The base every case spoils really loads: each failure above is the change's doing."""
    assert [b.name for b in load_backends(GOOD)] == ["01", "02"]


def test_at_least_twenty_malformed_cases() -> None:
    assert len(CASES) >= 20


def test_nothing_configured_says_what_to_set() -> None:
    for environ in ({}, {"PATH": "/usr/bin"}, {"AOAI_DEPLOYMENT": "gpt-35-turbo"}):
        with pytest.raises(ConfigError) as caught:
            load_backends(environ)
        message = str(caught.value)
        assert "AOAI_ENDPOINT_01" in message
        assert "AOAI_KEY_01" in message
        assert ".env.example" in message


def test_a_missing_dotenv_path_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.env"
    with pytest.raises(ConfigError, match=re.escape(str(missing))):
        load_backends({}, dotenv=missing)


def test_entra_id_without_azure_identity_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "azure.identity", None)  # as if not installed
    environ = _configure({"AOAI_KEY_02": None})
    with pytest.raises(ConfigError) as caught:
        load_backends(environ)
    message = str(caught.value)
    assert "AOAI_KEY_02" in message
    assert "aoai-fallbacks[entra]" in message
    _assert_safe(message)
