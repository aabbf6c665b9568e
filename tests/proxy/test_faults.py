"""Behind the proxy, the balancer's answers to throttling and failure reach any client."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from aoai_fallbacks.emulator import DeploymentConfig
from aoai_fallbacks.transport import BACKEND_HEADER
from store._support import eventually

from ._support import API_VERSION, CHAT, KEY, MESSAGES, running_proxy

pytestmark = pytest.mark.integration

CLASSIC = f"/openai/deployments/{CHAT}/chat/completions?api-version={API_VERSION}"


def test_a_throttled_backend_is_left_at_once_and_not_asked_again() -> None:
    with running_proxy() as proxy:
        proxy.emulator.resources[0].set_faults(CHAT, gateway_429=30)
        client = proxy.client()
        for _ in range(10):
            raw = client.chat.completions.with_raw_response.create(model=CHAT, messages=MESSAGES)
            assert raw.headers[BACKEND_HEADER] == "02"
        asked = proxy.emulator.resources[0].stats(CHAT).requests
        assert asked <= 1
        metrics = httpx.get(f"{proxy.url}/metrics").text
        throttled = 'aoai_fallbacks_backend_attempts_total{backend="01",outcome="throttled"}'
        assert f"{throttled} {float(asked)}" in metrics


def test_5xx_and_refused_connections_fail_over() -> None:
    with running_proxy(resources=3) as proxy:
        proxy.emulator.resources[0].set_faults(CHAT, outage=True)
        proxy.emulator.resources[1].set_faults(CHAT, error_rate=1.0, error_status=500)
        client = proxy.client()
        for _ in range(6):
            raw = client.chat.completions.with_raw_response.create(model=CHAT, messages=MESSAGES)
            assert raw.headers[BACKEND_HEADER] == "03"


def test_with_every_backend_throttled_the_client_gets_a_429_saying_when() -> None:
    with running_proxy(resources=1, wait_budget=0) as proxy:
        proxy.emulator.resources[0].set_faults(CHAT, gateway_429=20)
        client = proxy.client()
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model=CHAT, messages=MESSAGES)
        response = httpx.post(
            proxy.url + CLASSIC, json={"messages": MESSAGES}, headers={"api-key": KEY}
        )
        assert response.status_code == 429
        assert 15 <= int(response.headers["retry-after"]) <= 20
        assert response.json()["error"]["code"] == "NoBackendAvailable"
        assert proxy.emulator.resources[0].stats(CHAT).requests == 1  # the second asked none


def test_a_stream_cut_midway_ends_unfinished_for_the_client() -> None:
    with running_proxy(resources=1) as proxy:
        proxy.emulator.resources[0].set_faults(CHAT, drop_after_chunks=2)
        lines: list[str] = []
        with httpx.stream(
            "POST",
            proxy.url + CLASSIC,
            json={"messages": MESSAGES, "stream": True, "max_tokens": 50},
            headers={"api-key": KEY},
        ) as response:
            assert response.status_code == 200
            with pytest.raises(httpx.RemoteProtocolError):
                lines.extend(line for line in response.iter_lines() if line)
        assert 1 <= len(lines) <= 2
        assert "data: [DONE]" not in lines
        assert proxy.balancer.snapshot()[0].state != "available"  # cooled, like a failure


def test_a_misconfigured_backend_answers_its_own_error_and_readyz_says_so() -> None:
    with running_proxy(resources=1, deployments=[DeploymentConfig(CHAT)]) as proxy:
        assert httpx.get(f"{proxy.url}/readyz").status_code == 200
        proxy.emulator.resources[0].key = "rotated-on-azure-0000000000"
        with pytest.raises(openai.AuthenticationError):
            proxy.client().chat.completions.create(model=CHAT, messages=MESSAGES)
        ready = httpx.get(f"{proxy.url}/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"ready": False, "usable": [], "states": {"01": "quarantined"}}


def test_a_client_that_leaves_frees_its_backend_slot() -> None:
    with running_proxy(resources=1, attempt_timeout=60) as proxy:
        proxy.emulator.resources[0].set_faults(CHAT, hang=True)
        client = proxy.client(timeout=0.5)
        with pytest.raises(openai.APITimeoutError):
            client.chat.completions.create(model=CHAT, messages=MESSAGES)
        eventually(lambda: proxy.balancer.snapshot()[0].in_flight == 0, "the slot is freed")
        assert proxy.balancer.snapshot()[0].state == "available"  # abandoned, not failed
        eventually(
            lambda: 'code="499"' in httpx.get(f"{proxy.url}/metrics").text, "a 499 is counted"
        )


def test_a_client_that_leaves_the_line_frees_its_place() -> None:
    with running_proxy(resources=1, wait_budget=120) as proxy:
        proxy.emulator.resources[0].set_faults(CHAT, gateway_429=60)
        client = proxy.client(timeout=0.5)
        with pytest.raises(openai.APITimeoutError):
            client.chat.completions.create(model=CHAT, messages=MESSAGES)
        eventually(lambda: proxy.balancer.waiting == 0, "the place in line is given back")
        status = httpx.get(f"{proxy.url}/status", headers={"api-key": KEY}).json()
        assert status["waiting"] == 0
        assert json.dumps(status).count("cooling") == 1
