"""`fallback_chain` against the emulator: which backend answers, after how many requests."""

from __future__ import annotations

import asyncio
import socket

import openai
import pytest
from langchain_core.exceptions import ContextOverflowError

from aoai_fallbacks import fallback_chain, load_backends
from aoai_fallbacks.emulator import (
    CONTENT_FILTER_TRIGGER,
    DeploymentConfig,
    DeploymentStats,
    Emulator,
    run_emulator,
)
from aoai_fallbacks.testing import FakeClock

from .conftest import drain

pytestmark = pytest.mark.integration

GPT35 = "gpt-35-turbo"
SMALL, LARGE = "gpt4-8k", "gpt4-32k"
ONE_PER_WINDOW = 6
"""An RPM of 6 allows one request per 10-second window: a second request is a 429."""

TOO_LONG_FOR_8K = "tell me a joke about " + "very " * 8_000  # ~10,000 tokens


def _counts(emu: Emulator, deployment: str) -> list[DeploymentStats]:
    return [r.stats(deployment) for r in emu.resources]


def _minus(after: list[DeploymentStats], before: list[DeploymentStats]) -> list[tuple[int, ...]]:
    """Per resource: (requests, served, throttled, failed, rejected) since `before`."""
    return [
        (
            a.requests - b.requests,
            a.served - b.served,
            a.throttled - b.throttled,
            a.failed - b.failed,
            a.rejected - b.rejected,
        )
        for a, b in zip(after, before, strict=True)
    ]


def test_a_throttled_backend_hands_over_after_one_request(clock: FakeClock) -> None:
    with run_emulator(2, [DeploymentConfig(GPT35, rpm=ONE_PER_WINDOW)], clock=clock) as emu:
        drain(emu.resources[0], GPT35)
        before = _counts(emu, GPT35)
        chain = fallback_chain(load_backends(emu.env()), max_tokens=20)

        answer = chain.invoke("Tell me a dad joke")

        assert answer.content
        assert _minus(_counts(emu, GPT35), before) == [(1, 0, 1, 0, 0), (1, 1, 0, 0, 0)]
        assert clock.slept == []  # no retry on 01: straight to 02


def test_with_every_base_backend_throttled_the_larger_tier_answers(clock: FakeClock) -> None:
    deployments = [
        DeploymentConfig(SMALL, rpm=ONE_PER_WINDOW),
        DeploymentConfig(LARGE, context_window=32_768),
    ]
    with run_emulator(3, deployments, clock=clock) as emu:
        for resource in emu.resources:
            drain(resource, SMALL)
        before = _counts(emu, SMALL)
        chain = fallback_chain(load_backends(emu.env(deployment=SMALL, large_deployment=LARGE)))

        answer = chain.invoke("Tell me a dad joke")

        assert answer.response_metadata["model_name"] == LARGE
        assert _minus(_counts(emu, SMALL), before) == [(1, 0, 1, 0, 0)] * 3
        assert [s.served for s in _counts(emu, LARGE)] == [1, 0, 0]
        assert clock.slept == []


def test_the_last_backend_retries_after_its_retry_after(clock: FakeClock) -> None:
    with run_emulator(2, [DeploymentConfig(GPT35, rpm=ONE_PER_WINDOW)], clock=clock) as emu:
        for resource in emu.resources:
            drain(resource, GPT35)  # both windows full, both free again 10 s from now
        before = _counts(emu, GPT35)
        chain = fallback_chain(load_backends(emu.env()), max_tokens=20)

        answer = chain.invoke("Tell me a dad joke")

        assert answer.content
        assert clock.slept == [pytest.approx(10.0)]  # the 429's retry-after-ms, not a backoff
        assert _minus(_counts(emu, GPT35), before) == [(1, 0, 1, 0, 0), (2, 1, 1, 0, 0)]


def test_without_retries_left_the_last_429_is_raised(clock: FakeClock) -> None:
    with run_emulator(2, [DeploymentConfig(GPT35, rpm=ONE_PER_WINDOW)], clock=clock) as emu:
        for resource in emu.resources:
            drain(resource, GPT35)
        before = _counts(emu, GPT35)
        chain = fallback_chain(load_backends(emu.env()), last_max_retries=0)

        with pytest.raises(openai.RateLimitError):
            chain.invoke("Tell me a dad joke")

        assert _minus(_counts(emu, GPT35), before) == [(1, 0, 1, 0, 0)] * 2
        assert clock.slept == []


@pytest.mark.parametrize("how", ["sync", "async"])
def test_a_prompt_too_long_goes_straight_to_the_larger_tier(clock: FakeClock, how: str) -> None:
    deployments = [
        DeploymentConfig(SMALL, tpm=1_000_000),
        DeploymentConfig(LARGE, tpm=1_000_000, context_window=32_768),
    ]
    with run_emulator(2, deployments, clock=clock) as emu:
        chain = fallback_chain(load_backends(emu.env(deployment=SMALL)), larger_deployment=LARGE)

        if how == "sync":
            answer = chain.invoke(TOO_LONG_FOR_8K)
        else:
            answer = asyncio.run(chain.ainvoke(TOO_LONG_FOR_8K))

        assert answer.response_metadata["model_name"] == LARGE
        # 01's 8k refused it; 02's 8k, with the same window, was not asked.
        assert [(s.requests, s.rejected) for s in _counts(emu, SMALL)] == [(1, 1), (0, 0)]
        assert [s.served for s in _counts(emu, LARGE)] == [1, 0]


def test_a_prompt_too_long_without_a_larger_tier_fails_at_once(clock: FakeClock) -> None:
    with run_emulator(3, [DeploymentConfig(SMALL, tpm=1_000_000)], clock=clock) as emu:
        chain = fallback_chain(load_backends(emu.env()))

        with pytest.raises(ContextOverflowError) as caught:
            chain.invoke(TOO_LONG_FOR_8K)

        assert isinstance(caught.value, openai.BadRequestError)
        assert caught.value.code == "context_length_exceeded"
        assert [s.requests for s in _counts(emu, SMALL)] == [1, 0, 0]


def test_a_content_filter_refusal_is_not_tried_elsewhere(clock: FakeClock) -> None:
    deployments = [DeploymentConfig(SMALL), DeploymentConfig(LARGE, context_window=32_768)]
    with run_emulator(3, deployments, clock=clock) as emu:
        chain = fallback_chain(load_backends(emu.env(deployment=SMALL, large_deployment=LARGE)))

        with pytest.raises(openai.BadRequestError) as caught:
            chain.invoke(f"Tell me a joke about {CONTENT_FILTER_TRIGGER}")

        assert not isinstance(caught.value, ContextOverflowError)
        assert caught.value.code == "content_filter"
        assert [s.requests for s in _counts(emu, SMALL)] == [1, 0, 0]
        assert emu.stats(LARGE).requests == 0


def test_a_failing_backend_falls_back(clock: FakeClock) -> None:
    with run_emulator(2, [DeploymentConfig(GPT35)], clock=clock) as emu:
        emu.resources[0].set_faults(GPT35, outage=True)

        answer = fallback_chain(load_backends(emu.env())).invoke("Tell me a dad joke")

        assert answer.content
        assert [(s.requests, s.failed, s.served) for s in _counts(emu, GPT35)] == [
            (1, 1, 0),
            (1, 0, 1),
        ]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param({"AOAI_KEY_01": "not-the-key-of-01"}, id="wrong-key-401"),
        pytest.param({"AOAI_DEPLOYMENT_01": "no-such-deployment"}, id="missing-deployment-404"),
        pytest.param({"AOAI_ENDPOINT_01": "unreachable"}, id="connection-refused"),
    ],
)
def test_a_misconfigured_backend_falls_back(clock: FakeClock, spoil: dict[str, str]) -> None:
    with run_emulator(2, [DeploymentConfig(GPT35)], clock=clock) as emu:
        environ = emu.env() | spoil
        if environ["AOAI_ENDPOINT_01"] == "unreachable":
            environ["AOAI_ENDPOINT_01"] = f"http://127.0.0.1:{_closed_port()}"

        answer = fallback_chain(load_backends(environ)).invoke("Tell me a dad joke")

        assert answer.content
        assert [s.served for s in _counts(emu, GPT35)] == [0, 1]
        assert clock.slept == []


def test_async_invocation_falls_back_the_same_way(clock: FakeClock) -> None:
    with run_emulator(2, [DeploymentConfig(GPT35, rpm=ONE_PER_WINDOW)], clock=clock) as emu:
        drain(emu.resources[0], GPT35)
        before = _counts(emu, GPT35)
        chain = fallback_chain(load_backends(emu.env()), max_tokens=20)

        answer = asyncio.run(chain.ainvoke("Tell me a dad joke"))

        assert answer.content
        assert _minus(_counts(emu, GPT35), before) == [(1, 0, 1, 0, 0), (1, 1, 0, 0, 0)]


def test_a_streamed_prompt_too_long_goes_to_the_larger_tier(clock: FakeClock) -> None:
    deployments = [
        DeploymentConfig(SMALL, tpm=1_000_000),
        DeploymentConfig(LARGE, tpm=1_000_000, context_window=32_768),
    ]
    with run_emulator(2, deployments, clock=clock) as emu:
        chain = fallback_chain(load_backends(emu.env(deployment=SMALL, large_deployment=LARGE)))

        chunks = list(chain.stream(TOO_LONG_FOR_8K))

        assert "".join(str(c.content) for c in chunks)
        assert [s.requests for s in _counts(emu, SMALL)] == [1, 0]
        assert [s.served for s in _counts(emu, LARGE)] == [1, 0]
