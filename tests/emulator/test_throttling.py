"""429s over real HTTP: Azure's body, retry-after rounded up, retry-after-ms exact, on a fake clock."""

from __future__ import annotations

import math

import openai
import pytest

from aoai_fallbacks.emulator import DeploymentConfig, Faults, run_emulator
from aoai_fallbacks.testing import FakeClock

from ._support import DEPLOYMENT, HELLO, client

pytestmark = pytest.mark.integration


def test_token_limit_429_carries_the_true_refill_time() -> None:
    clock = FakeClock()
    with run_emulator(deployments=[DeploymentConfig(DEPLOYMENT, tpm=1_000)], clock=clock) as emu:
        sdk = client(emu.resources[0])
        first = sdk.chat.completions.with_raw_response.create(
            model=DEPLOYMENT, messages=HELLO, max_tokens=600
        )
        clock.advance(12.25)
        with pytest.raises(openai.RateLimitError) as caught:
            sdk.chat.completions.create(model=DEPLOYMENT, messages=HELLO, max_tokens=600)
        headers = caught.value.response.headers
        # The first charge leaves the 60 s window 47.75 s from now.
        clock.advance(47.74)
        with pytest.raises(openai.RateLimitError):
            sdk.chat.completions.create(model=DEPLOYMENT, messages=HELLO, max_tokens=600)
        clock.advance(0.01)
        sdk.chat.completions.create(model=DEPLOYMENT, messages=HELLO, max_tokens=600)
        stats = emu.stats(DEPLOYMENT)

    assert first.http_response.status_code == 200
    assert int(headers["retry-after-ms"]) == 47_750
    assert headers["retry-after"] == "48"  # whole seconds, rounded up
    assert int(headers["x-ratelimit-remaining-tokens"]) < 600
    assert headers["x-ratelimit-remaining-requests"] == "1"  # 6 RPM: 1 per 10 s, free again
    assert headers["x-request-id"]
    body = caught.value.response.json()
    assert body["error"]["code"] == "429"
    assert body["error"]["message"].startswith(
        "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version "
        "2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. "
        "Please retry after 48 seconds."
    )
    assert (stats.served, stats.throttled) == (2, 2)
    assert stats.throttled_early == 1  # the second 429 came 0.01 s before the first's retry-after


def test_request_limit_429_says_call_rate_limit() -> None:
    clock = FakeClock()
    with run_emulator(
        deployments=[DeploymentConfig(DEPLOYMENT, tpm=1_000_000, rpm=12)], clock=clock
    ) as emu:
        sdk = client(emu.resources[0])
        sdk.chat.completions.create(model=DEPLOYMENT, messages=HELLO)
        clock.advance(3)
        sdk.chat.completions.create(model=DEPLOYMENT, messages=HELLO)
        clock.advance(3)
        with pytest.raises(openai.RateLimitError) as caught:
            sdk.chat.completions.create(model=DEPLOYMENT, messages=HELLO)

    headers = caught.value.response.headers
    assert int(headers["retry-after-ms"]) == 4_000  # the first request leaves the 10 s window
    assert headers["retry-after"] == "4"
    assert "exceeded call rate limit" in caught.value.response.json()["error"]["message"]


def test_request_without_max_tokens_is_charged_the_documented_default() -> None:
    clock = FakeClock()
    config = DeploymentConfig(DEPLOYMENT, default_max_tokens=256)
    with run_emulator(deployments=[config], clock=clock) as emu:
        raw = client(emu.resources[0]).chat.completions.with_raw_response.create(
            model=DEPLOYMENT, messages=HELLO
        )
    usage = raw.parse().usage
    assert usage is not None
    assert 10_000 - int(raw.headers["x-ratelimit-remaining-tokens"]) == usage.prompt_tokens + 256


def test_without_a_default_a_request_reserves_the_rest_of_the_context_window_like_azure() -> None:
    clock = FakeClock()
    config = DeploymentConfig(DEPLOYMENT, tpm=20_000, default_max_tokens=None)
    with run_emulator(deployments=[config], clock=clock) as emu:
        raw = client(emu.resources[0]).chat.completions.with_raw_response.create(
            model=DEPLOYMENT, messages=HELLO
        )
    assert 20_000 - int(raw.headers["x-ratelimit-remaining-tokens"]) == 8_192


def test_n_multiplies_the_completion_charge() -> None:
    with run_emulator(deployments=[DeploymentConfig(DEPLOYMENT)], clock=FakeClock()) as emu:
        sdk = client(emu.resources[0])
        one = sdk.chat.completions.with_raw_response.create(
            model=DEPLOYMENT, messages=HELLO, max_tokens=100
        )
        three = sdk.chat.completions.with_raw_response.create(
            model=DEPLOYMENT, messages=HELLO, max_tokens=100, n=3
        )
    after_one = int(one.headers["x-ratelimit-remaining-tokens"])
    after_three = int(three.headers["x-ratelimit-remaining-tokens"])
    prompt = 10_000 - after_one - 100
    assert after_one - after_three == prompt + 300


def test_omit_retry_after_sends_429s_without_the_headers() -> None:
    with run_emulator(
        deployments=[DeploymentConfig(DEPLOYMENT, tpm=1, rpm=1)],
        clock=FakeClock(),
        faults=Faults(omit_retry_after=True),
    ) as emu:
        sdk = client(emu.resources[0])
        for _ in range(2):
            with pytest.raises(openai.RateLimitError) as caught:
                sdk.chat.completions.create(model=DEPLOYMENT, messages=HELLO)
        stats = emu.stats(DEPLOYMENT)

    headers = caught.value.response.headers
    assert "retry-after" not in headers
    assert "retry-after-ms" not in headers
    assert "x-ratelimit-remaining-tokens" in headers
    # Never told when to come back, the second caller was not early.
    assert (stats.throttled, stats.throttled_early) == (2, 0)


def test_quota_is_per_deployment_and_per_resource() -> None:
    clock = FakeClock()
    deployments = [DeploymentConfig("a", tpm=300), DeploymentConfig("b", tpm=300)]
    with run_emulator(resources=2, deployments=deployments, clock=clock) as emu:
        first, second = (client(resource) for resource in emu.resources)
        first.chat.completions.create(model="a", messages=HELLO, max_tokens=250)
        with pytest.raises(openai.RateLimitError):
            first.chat.completions.create(model="a", messages=HELLO, max_tokens=250)
        first.chat.completions.create(model="b", messages=HELLO, max_tokens=250)
        second.chat.completions.create(model="a", messages=HELLO, max_tokens=250)

        assert emu.stats("a").requests == 3
        assert emu.stats("a").throttled == 1
        assert emu.resources[1].stats("a").served == 1


def test_a_request_bigger_than_the_whole_quota_waits_a_full_window() -> None:
    with run_emulator(
        deployments=[DeploymentConfig(DEPLOYMENT, tpm=1, rpm=1)], clock=FakeClock()
    ) as emu:
        with pytest.raises(openai.RateLimitError) as caught:
            client(emu.resources[0]).chat.completions.create(
                model=DEPLOYMENT, messages=HELLO, max_tokens=1
            )
        stats = emu.stats(DEPLOYMENT)
    assert caught.value.response.headers["retry-after"] == str(math.ceil(60.0))
    assert stats.throttled == 1
