"""`examples/smart_joke_chain.py`: runnable as-is on the emulator, and correct under throttling."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from aoai_fallbacks import Balancer, balanced_chat_model, load_backends
from aoai_fallbacks.emulator import DeploymentConfig, run_emulator
from aoai_fallbacks.testing import FakeClock

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).parents[2] / "examples" / "smart_joke_chain.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("smart_joke_chain", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_runs_as_is_on_the_built_in_emulator(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AOAI_")}
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        cwd=tmp_path,  # no .env here: the example starts the emulator
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    jokes = [line for line in done.stdout.splitlines() if line.startswith("[backend ")]
    assert [line[:11] for line in jokes] == ["[backend 01"] * 3 + ["[backend 02"] * 3 + [
        "[backend 03"
    ] * 3
    assert "backend 01 (gpt-35-turbo) throttled for" in done.stderr
    assert "switching to backend 02 (gpt-35-turbo)" in done.stderr


def test_every_joke_is_told_when_every_backend_is_throttled_in_turn() -> None:
    example = load_example()
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
