"""Keys never appear in logs, reprs, snapshots or exceptions, whatever goes wrong."""

from __future__ import annotations

import logging

import pytest

from aoai_fallbacks import (
    Balancer,
    NoBackendAvailableError,
    balanced_chat_model,
    balanced_openai_client,
)
from aoai_fallbacks.emulator import DeploymentConfig, run_emulator
from aoai_fallbacks.testing import FakeClock

from ._support import ask, backends_of

pytestmark = pytest.mark.integration

KEYS = ["emulator-key-one-5b1e9f0c3d", "emulator-key-two-8c2a7d4e1f"]
WRONG = "wrong-key-three-1a2b3c4d5e"


def test_no_key_anywhere_a_user_or_an_operator_can_see(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: ours, openai's, httpx's
    small = DeploymentConfig("gpt-35-turbo", tpm=1_000, remaining_headers="off")
    with run_emulator(3, [small], clock=clock, keys=[*KEYS, "emulator-key-3"]) as emu:
        backends = backends_of(emu, AOAI_KEY_03=WRONG)
        balancer = Balancer(backends, clock=clock, wait_budget=0)
        client = balanced_openai_client(balancer=balancer)
        model = balanced_chat_model(balancer=balancer)
        ask(client)
        ask(client)
        with pytest.raises(NoBackendAvailableError) as caught:
            ask(client)  # throttled twice, misconfigured once: exhaustion
        error = caught.value
        seen = [
            caplog.text,
            repr(balancer),
            repr(backends),
            str(backends[0]),
            repr(balancer.snapshot()),
            str(error),
            repr(error),
            repr(error.body),
            repr(error.attempts),
            error.response.text,
            repr(client),
            repr(model),
            str(model.model_dump()),
        ]
    assert any("quarantined" in r.getMessage() for r in caplog.records)
    assert any(r.levelno == logging.ERROR for r in caplog.records)
    for text in seen:
        for key in [*KEYS, WRONG]:
            assert key not in text
