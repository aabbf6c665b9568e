"""`examples/smart_joke_chain.py`: runnable as-is on the emulator, and correct under throttling."""

from __future__ import annotations

from pathlib import Path

import pytest

from aoai_fallbacks import Balancer, balanced_chat_model, load_backends
from aoai_fallbacks.emulator import DeploymentConfig, run_emulator
from aoai_fallbacks.testing import FakeClock

from ._support import EXAMPLES, load_example, run_unconfigured

pytestmark = pytest.mark.integration

EXAMPLE = EXAMPLES / "smart_joke_chain.py"


def test_runs_as_is_on_the_built_in_emulator(tmp_path: Path) -> None:
    done = run_unconfigured(EXAMPLE, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    jokes = [line for line in done.stdout.splitlines() if line.startswith("[backend ")]
    assert [line[:11] for line in jokes] == ["[backend 01"] * 3 + ["[backend 02"] * 3 + [
        "[backend 03"
    ] * 3
    # Each answer says how much of its window is left: a full one is passed over
    # without a 429 to find out.
    assert "throttled" not in done.stderr


def test_every_joke_is_told_when_every_backend_is_throttled_in_turn() -> None:
    example = load_example(EXAMPLE)
    clock = FakeClock()
    one_per_window = DeploymentConfig("gpt-35-turbo", tpm=10_000, rpm=6)
    with run_emulator(resources=3, deployments=[one_per_window], clock=clock) as emu:
        balancer = Balancer(load_backends(emu.env(), dotenv=False), clock=clock)
        model = balanced_chat_model(balancer=balancer, include_response_headers=True)
        jokes = example.tell_jokes(example.build_chain(model), count=9)
        stats = emu.stats("gpt-35-turbo")
    assert len(jokes) == 9
    assert all(jokes)
    assert stats.served == 9
    assert len(clock.slept) >= 2  # three jokes per 10 s window: it waited, never failed
