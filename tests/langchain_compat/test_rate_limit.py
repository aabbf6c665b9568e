"""With every backend busy, LangChain code sees its own standard rate-limit error, with the
time to wait still at hand (issue 10, item 10).

langchain-core 1.8 gives every provider the same exceptions
(``ModelRateLimitError``, ``is_retryable``...), and LangChain's retry
middleware decides what to retry by them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.exceptions import ModelError, ModelRateLimitError

from aoai_fallbacks import (
    Balancer,
    NoBackendAvailableError,
    balanced_chat_model,
    balanced_openai_client,
)
from aoai_fallbacks.emulator import DeploymentConfig, run_emulator
from aoai_fallbacks.testing import FakeClock

from ._support import DEPLOYMENT, balancer_of

pytestmark = pytest.mark.integration


@pytest.fixture
def busy(clock: FakeClock) -> Iterator[Balancer]:
    """Two resources of one request per 10 s, each used once: every backend is full for
    10 s, and the balancer (no waiting allowed) knows it."""
    small = DeploymentConfig(DEPLOYMENT, tpm=1_000, remaining_headers="off")
    with run_emulator(2, [small], clock=clock) as emu:
        balancer = balancer_of(emu, clock, wait_budget=0, rng=random.Random(1))
        model = balanced_chat_model(balancer=balancer, max_tokens=20)
        model.invoke("one")
        model.invoke("two")
        yield balancer


def _retried_by_langchain(error: BaseException) -> bool:
    """What LangChain's retry middleware asks of an error by default."""
    return not isinstance(error, ModelError) or error.is_retryable


class _Starts(BaseCallbackHandler):
    def __init__(self) -> None:
        self.count = 0

    def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:
        self.count += 1


def test_a_langchain_user_gets_a_model_rate_limit_error_with_its_retry_after(
    busy: Balancer,
) -> None:
    model = balanced_chat_model(balancer=busy, max_tokens=20)

    with pytest.raises(ModelRateLimitError) as caught:
        model.invoke("three")

    error = caught.value
    assert isinstance(error, openai.RateLimitError)  # what code written before 1.8 catches
    assert error.is_retryable
    assert _retried_by_langchain(error)
    ours = NoBackendAvailableError.find(error)
    assert ours is not None
    assert ours.retry_after == pytest.approx(10.05)
    assert error.response.headers["retry-after"] == "11"


def test_langchain_retries_it_as_a_rate_limit(busy: Balancer) -> None:
    model = balanced_chat_model(balancer=busy, max_tokens=20)
    retrying = model.with_retry(
        retry_if_exception_type=(ModelRateLimitError,),
        wait_exponential_jitter=False,
        stop_after_attempt=3,
    )
    starts = _Starts()

    with pytest.raises(ModelRateLimitError):
        retrying.invoke("three", config={"callbacks": [starts]})

    assert starts.count == 3


def test_the_error_itself_is_a_model_rate_limit_error(busy: Balancer) -> None:
    """Where no langchain-openai wraps it: the SDK face, called from a tool or a chain."""
    client = balanced_openai_client(balancer=busy)

    with pytest.raises(NoBackendAvailableError) as caught:
        client.chat.completions.create(
            model="ignored", messages=[{"role": "user", "content": "three"}], max_tokens=20
        )

    error = caught.value
    assert isinstance(error, ModelRateLimitError)
    assert _retried_by_langchain(error)
    assert error.retry_after == pytest.approx(10.05)
