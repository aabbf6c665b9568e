"""What operators see: health, readiness, status, metrics, access logs; and no key anywhere."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from aoai_fallbacks.balancer import Balancer
from aoai_fallbacks.errors import ConfigError
from aoai_fallbacks.proxy import Proxy, ProxySettings, load_proxy_settings

from ._support import CHAT, KEY, MESSAGES, Running, running_proxy

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def proxy() -> Iterator[Running]:
    with running_proxy() as running:
        yield running


def test_healthz_and_readyz_need_no_key(proxy: Running) -> None:
    assert httpx.get(f"{proxy.url}/healthz").json() == {"status": "alive"}
    ready = httpx.get(f"{proxy.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["usable"] == ["01", "01-embeddings", "02", "02-embeddings"]


def test_status_is_behind_the_key_and_holds_no_secret(proxy: Running) -> None:
    assert httpx.get(f"{proxy.url}/status").status_code == 401
    proxy.client().chat.completions.create(model=CHAT, messages=MESSAGES)
    response = httpx.get(f"{proxy.url}/status", headers={"api-key": KEY})
    status = response.json()
    assert [b["name"] for b in status["backends"]] == [
        "01",
        "02",
        "01-embeddings",
        "02-embeddings",
    ]
    assert sum(b["served"] for b in status["backends"]) >= 1
    assert status["store"] is None
    for resource in proxy.emulator.resources:
        assert resource.key not in response.text
    assert KEY not in response.text


def test_metrics_count_requests_attempts_and_waits(proxy: Running) -> None:
    proxy.client().chat.completions.create(model=CHAT, messages=MESSAGES)
    text = httpx.get(f"{proxy.url}/metrics").text
    for family in (
        "aoai_fallbacks_proxy_requests_total",
        "aoai_fallbacks_proxy_request_duration_seconds_bucket",
        "aoai_fallbacks_wait_seconds_bucket",
        "aoai_fallbacks_backend_attempts_total",
        "aoai_fallbacks_backend_cooldown_seconds",
        "aoai_fallbacks_backend_state",
        "aoai_fallbacks_backend_in_flight",
        "aoai_fallbacks_requests_waiting",
    ):
        assert f"\n{family}" in text, family
    assert 'aoai_fallbacks_backend_state{backend="01",state="available"} 1.0' in text
    served = [
        line
        for line in text.splitlines()
        if line.startswith("aoai_fallbacks_backend_attempts_total") and 'outcome="served"' in line
    ]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in served) >= 1
    for resource in proxy.emulator.resources:
        assert resource.key not in text
    openmetrics = httpx.get(
        f"{proxy.url}/metrics", headers={"accept": "application/openmetrics-text"}
    )
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")


def test_one_access_line_per_request_without_keys_or_query(
    proxy: Running, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="aoai_fallbacks.proxy"):
        proxy.client().chat.completions.create(model=CHAT, messages=MESSAGES)
        httpx.get(f"{proxy.url}/status", headers={"api-key": "wrong-key-wrong-key-wrong"})
    lines = [
        json.loads(r.getMessage()) for r in caplog.records if r.name == "aoai_fallbacks.proxy"
    ]
    assert [(line["method"], line["status"]) for line in lines] == [("POST", 200), ("GET", 401)]
    chat = lines[0]
    assert chat["path"] == f"/openai/deployments/{CHAT}/chat/completions"
    assert chat["backend"] in {"01", "02"}
    assert chat["waited"] == 0.0
    everything = caplog.text
    assert KEY not in everything
    assert "wrong-key-wrong-key-wrong" not in everything
    for resource in proxy.emulator.resources:
        assert resource.key not in everything


def test_settings_come_from_the_environment() -> None:
    settings = load_proxy_settings(
        {
            "AOAI_PROXY_KEYS": f" {KEY}, {KEY[::-1]} ",
            "AOAI_PROXY_ALIASES": "gpt-4,gpt-4-32k",
            "AOAI_PROXY_MAX_BODY": "1000",
        },
        dotenv=False,
    )
    assert settings == ProxySettings((KEY, KEY[::-1]), ("gpt-4", "gpt-4-32k"), 1000)
    assert KEY not in repr(settings)
    assert "2 key(s)" in repr(settings)
    assert load_proxy_settings({}, dotenv=False) == ProxySettings()


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"AOAI_PROXY_KEYS": "short"}, "key 1 must be at least 16"),
        ({"AOAI_PROXY_KEYS": f"{KEY},{KEY[:8]}"}, "key 2 must be at least 16"),
        ({"AOAI_PROXY_MAX_BODY": "32MB"}, "AOAI_PROXY_MAX_BODY must be a whole number"),
        ({"AOAI_PROXY_MAX_BODY": "0"}, "AOAI_PROXY_MAX_BODY must be a positive"),
    ],
)
def test_bad_settings_are_refused_by_name_without_the_key(
    variables: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        load_proxy_settings(variables, dotenv=False)
    assert "short" not in str(raised.value)
    assert KEY[:8] not in str(raised.value)


def test_a_backend_key_is_never_a_client_key(proxy: Running) -> None:
    backends = proxy.balancer.backends
    assert backends[0].api_key is not None
    with pytest.raises(ConfigError, match="holds the key of backend 01") as raised:
        Proxy(Balancer(backends, store=None), ProxySettings(keys=(backends[0].api_key,)))
    assert backends[0].api_key not in str(raised.value)


def test_an_alias_is_a_name_clients_may_use() -> None:
    with running_proxy(settings=ProxySettings(keys=(KEY,), aliases=("gpt-4",))) as proxy:
        answer = proxy.client().chat.completions.create(model="gpt-4", messages=MESSAGES)
        assert answer.choices
        assert proxy.received(CHAT) == 1
