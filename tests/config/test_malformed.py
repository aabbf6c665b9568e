"""Every malformed configuration is a `ConfigError` that names the variable and hides the key."""

from __future__ import annotations

import re
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
    # A key is sent as an HTTP header value: anything else breaks every request, or leaks.
    "key-with-line-break": ({"AOAI_KEY_01": "abc\ndef-7731"}, "AOAI_KEY_01"),
    "key-with-space": ({"AOAI_KEY_02": "abc def-2210"}, "AOAI_KEY_02"),
    "key-not-ascii": ({"AOAI_KEY_01": "clé-secrète-7731"}, "AOAI_KEY_01"),
    "key-with-control-character": ({"AOAI_KEY_02": "abc\x00def"}, "AOAI_KEY_02"),
    # A port the socket wraps sends the request, key included, to another port.
    "port-above-65535": ({"AOAI_ENDPOINT_01": "http://127.0.0.1:70000"}, "AOAI_ENDPOINT_01"),
    "port-wrapping-to-another": (
        {"AOAI_ENDPOINT_01": f"http://127.0.0.1:{8080 + 65536}"},
        "AOAI_ENDPOINT_01",
    ),
    "port-negative": ({"AOAI_ENDPOINT_01": "http://127.0.0.1:-1"}, "AOAI_ENDPOINT_01"),
    "port-zero": ({"AOAI_ENDPOINT_02": "http://127.0.0.1:0"}, "AOAI_ENDPOINT_02"),
    "port-not-digits": ({"AOAI_ENDPOINT_01": "http://127.0.0.1:abc"}, "AOAI_ENDPOINT_01"),
    "port-signed": ({"AOAI_ENDPOINT_01": "http://127.0.0.1:+80"}, "AOAI_ENDPOINT_01"),
    "port-empty": ({"AOAI_ENDPOINT_01": "http://127.0.0.1:"}, "AOAI_ENDPOINT_01"),
    "port-in-other-digits": (
        {"AOAI_ENDPOINT_01": "http://127.0.0.1:\u0668\u0660"},
        "AOAI_ENDPOINT_01",
    ),
    "port-above-65535-ipv6": ({"AOAI_ENDPOINT_02": "http://[::1]:99999"}, "AOAI_ENDPOINT_02"),
    "endpoint-not-ascii": ({"AOAI_ENDPOINT_01": "https://bücher.openai.azure.com"}, "xn--"),
    # A deployment name is one path segment: '..' would rewrite the request's path.
    "deployment-dot-dot": ({"AOAI_DEPLOYMENT": ".."}, "AOAI_DEPLOYMENT"),
    "deployment-dot": ({"AOAI_DEPLOYMENT_01": "."}, "AOAI_DEPLOYMENT_01"),
    "deployment-with-slash": ({"AOAI_DEPLOYMENT": "gpt/../../x"}, "AOAI_DEPLOYMENT"),
    "deployment-with-query": ({"AOAI_DEPLOYMENT": "gpt?api-version=1"}, "AOAI_DEPLOYMENT"),
    "deployment-with-space": ({"AOAI_DEPLOYMENT_02": "gpt 4"}, "AOAI_DEPLOYMENT_02"),
    "deployment-one-character": ({"AOAI_DEPLOYMENT": "g"}, "AOAI_DEPLOYMENT"),
    "deployment-too-long": ({"AOAI_DEPLOYMENT": "g" * 65}, "AOAI_DEPLOYMENT"),
    "deployment-100k-characters": ({"AOAI_DEPLOYMENT": "g" * 100_000}, "AOAI_DEPLOYMENT"),
    "deployment-undecodable-byte": ({"AOAI_DEPLOYMENT": "gpt\udcff"}, "AOAI_DEPLOYMENT"),
    "deployment-not-ascii": ({"AOAI_DEPLOYMENT": "gpt-4ö"}, "AOAI_DEPLOYMENT"),
    "large-deployment-dot-dot": ({"AOAI_LARGE_DEPLOYMENT": ".."}, "AOAI_LARGE_DEPLOYMENT"),
    "own-large-deployment-dot": ({"AOAI_LARGE_DEPLOYMENT_02": "."}, "AOAI_LARGE_DEPLOYMENT_02"),
    # Digits are 0-9: int() and float() take any script's digits, and huge numbers raise.
    "api-version-in-other-digits": (
        {"AOAI_API_VERSION": "\u0662\u0660\u0662\u0664-\u0661\u0660-\u0662\u0661"},
        "AOAI_API_VERSION",
    ),
    "priority-in-other-digits": ({"AOAI_PRIORITY_01": "\u0662"}, "AOAI_PRIORITY_01"),
    "weight-in-other-digits": ({"AOAI_WEIGHT_01": "\u0662"}, "AOAI_WEIGHT_01"),
    "priority-too-many-digits": ({"AOAI_PRIORITY_01": "1" * 5000}, "AOAI_PRIORITY_01"),
    "number-in-other-digits": (
        {"AOAI_ENDPOINT_\u0660\u0663": "https://three.openai.azure.com"},
        "AOAI_ENDPOINT_\u0660\u0663",
    ),
    "number-of-4301-digits": (
        {"AOAI_ENDPOINT_" + "1" * 4301: "https://three.openai.azure.com"},
        "AOAI_ENDPOINT_111",
    ),
    "number-of-7-digits": ({"AOAI_KEY_0000001": KEY}, "AOAI_KEY_0000001"),
    # An endpoint is shown with its userinfo, query and fragment masked.
    "key-in-query": (
        {"AOAI_ENDPOINT_01": f"https://one.openai.azure.com/?api-key={KEY}"},
        "AOAI_ENDPOINT_01",
    ),
    "key-in-fragment": (
        {"AOAI_ENDPOINT_01": f"https://one.openai.azure.com#{KEY}"},
        "AOAI_ENDPOINT_01",
    ),
    "key-in-ftp-userinfo": ({"AOAI_ENDPOINT_02": f"ftp://u:{KEY}@h"}, "AOAI_ENDPOINT_02"),
    "key-in-http-userinfo": (
        {"AOAI_ENDPOINT_02": f"http://u:{KEY}@two.openai.azure.com"},
        "AOAI_ENDPOINT_02",
    ),
    "key-as-port": (
        {"AOAI_ENDPOINT_01": f"https://one.openai.azure.com:{KEY}"},
        "AOAI_ENDPOINT_01",
    ),
    "key-as-endpoint": ({"AOAI_ENDPOINT_01": KEY}, "AOAI_ENDPOINT_01"),
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
    assert message.isprintable()  # one line, whatever the value held
    assert len(message) < 400


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


@pytest.mark.parametrize(
    "content",
    [
        "AOAI_ENDPOINT_01=https://one.openai.azure.com\n".encode("utf-16"),
        bytes(range(256)),
    ],
    ids=["utf-16", "binary"],
)
def test_a_dotenv_that_is_not_utf8_is_named(tmp_path: Path, content: bytes) -> None:
    env_file = tmp_path / "windows.env"
    env_file.write_bytes(content)
    with pytest.raises(ConfigError, match=f"{re.escape(str(env_file))}.*not UTF-8"):
        load_backends({}, dotenv=env_file)


@pytest.mark.usefixtures("without_azure")
def test_entra_id_without_azure_identity_names_the_extra() -> None:
    environ = _configure({"AOAI_KEY_02": None})
    with pytest.raises(ConfigError) as caught:
        load_backends(environ)
    message = str(caught.value)
    assert "AOAI_KEY_02" in message
    assert "aoai-fallbacks[entra]" in message
    _assert_safe(message)
