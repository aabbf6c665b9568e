"""Keys never appear in a span or a metric point, whatever goes wrong."""

from __future__ import annotations

from typing import Any

import pytest

from aoai_fallbacks import (
    Balancer,
    NoBackendAvailableError,
    StreamInterruptedError,
    balanced_openai_client,
)
from aoai_fallbacks.emulator import DeploymentConfig, run_emulator
from aoai_fallbacks.testing import FakeClock
from transport._support import PROMPT, ask, backends_of

from .conftest import Recorded

pytestmark = pytest.mark.integration

KEYS = ["emulator-key-one-5b1e9f0c3d", "emulator-key-two-8c2a7d4e1f"]
WRONG = "wrong-key-three-1a2b3c4d5e"


def everything_recorded(otel: Recorded) -> list[str]:
    """Every name, attribute, event and status of every span and metric point, as text."""
    seen: list[str] = []
    for span in otel.spans():
        seen += [span.name, repr(dict(span.attributes or {})), repr(span.status.description)]
        seen += [f"{e.name} {dict(e.attributes or {})}" for e in span.events]
    points: list[Any] = [p for found in otel.metrics().values() for p in found]
    seen += [repr(dict(p.attributes or {})) for p in points]
    return seen


def test_no_key_in_any_attribute(otel: Recorded, clock: FakeClock) -> None:
    small = DeploymentConfig("gpt-35-turbo", tpm=1_000, remaining_headers="off")
    with run_emulator(3, [small], clock=clock, keys=[*KEYS, "emulator-key-3"]) as emu:
        for resource in emu.resources:  # whichever backend streams, its stream breaks
            resource.set_faults("gpt-35-turbo", drop_after_chunks=1)
        backends = backends_of(emu, AOAI_KEY_03=WRONG)
        client = balanced_openai_client(balancer=Balancer(backends, clock=clock, wait_budget=0))
        with pytest.raises(StreamInterruptedError):
            for _ in client.chat.completions.create(
                model="x", messages=PROMPT, max_tokens=30, stream=True
            ):
                pass
        ask(client)
        with pytest.raises(NoBackendAvailableError):
            ask(client)  # throttled, misconfigured (401): exhaustion
        seen = everything_recorded(otel)
    names = {text.split(" ", 1)[0] for text in seen}
    assert {"chat", "stream"} <= names  # attempts and the cut were recorded
    assert any("'misconfigured'" in text for text in seen)
    assert any("'throttled'" in text for text in seen)
    for text in seen:
        for key in [*KEYS, WRONG]:
            assert key not in text
