"""`Backend` itself: validated on construction, and its key never shown."""

from __future__ import annotations

import dataclasses

import pytest

from aoai_fallbacks import Backend, ConfigError

KEY = "Qm2-DISTINCTIVE-KEY-5550"


def test_repr_and_str_mask_the_key() -> None:
    backend = Backend(
        name="01", endpoint="https://a.openai.azure.com", deployment="gpt-4o", api_key=KEY
    )
    for text in (repr(backend), str(backend), f"{backend}", f"{backend!r}", repr([backend])):
        assert KEY not in text
        assert "api_key=<set>" in text
    keyless = dataclasses.replace(backend, api_key=None)
    assert "api_key=<entra>" in repr(keyless)


def test_endpoint_is_normalised_and_label_names_the_deployment() -> None:
    backend = Backend(name="07", endpoint="https://a.openai.azure.com///", deployment="gpt-4o")
    assert backend.endpoint == "https://a.openai.azure.com"
    assert backend.label == "07 (gpt-4o)"


def test_it_is_frozen() -> None:
    backend = Backend(name="01", endpoint="https://a.openai.azure.com", deployment="gpt-4o")
    with pytest.raises(dataclasses.FrozenInstanceError):
        backend.weight = 2.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"weight": 0.0}, "weight"),
        ({"weight": -1.0}, "weight"),
        ({"weight": float("nan")}, "weight"),
        ({"priority": 0}, "priority"),
        ({"priority": True}, "priority"),
        ({"endpoint": "http://a.openai.azure.com"}, "https"),
        ({"endpoint": ""}, "endpoint"),
        ({"deployment": " "}, "deployment"),
        ({"api_key": ""}, "api_key"),
        ({"tier": "huge"}, "tier"),
        ({"api_version": "yesterday"}, "api_version"),
        ({"name": ""}, "name"),
        ({"endpoint": "http://127.0.0.1:70000"}, "port"),
        ({"deployment": ".."}, "deployment"),
        ({"deployment": "gpt/../../v1"}, "deployment"),
        ({"api_key": f"{KEY}\r\nX-Injected: 1"}, "api_key"),
    ],
)
def test_invalid_fields_are_refused_naming_the_field(
    fields: dict[str, object], words: str
) -> None:
    arguments: dict[str, object] = {
        "name": "03",
        "endpoint": "https://a.openai.azure.com",
        "deployment": "gpt-4o",
        "api_key": KEY,
        **fields,
    }
    with pytest.raises(ConfigError, match=words) as caught:
        Backend(**arguments)  # type: ignore[arg-type]
    assert KEY not in str(caught.value)


def test_loopback_http_is_allowed() -> None:
    backend = Backend(name="01", endpoint="http://127.0.0.1:5000/", deployment="gpt-4o")
    assert backend.endpoint == "http://127.0.0.1:5000"
