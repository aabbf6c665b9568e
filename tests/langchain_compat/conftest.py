"""Fixtures of the LangChain compatibility tests, and how langchain-tests' classes run here.

Every test runs LangChain over loopback HTTP against the emulator, on one
`FakeClock` shared with the balancer.

The standard tests are LangChain's own (`langchain-tests`); two adjustments
let them run in this suite as they do in langchain-openai's:

* their ``async def`` tests run under pytest-asyncio, as langchain-openai's
  ``asyncio_mode = "auto"`` runs them, but only in this directory (marked
  as they are collected, before pytest-asyncio looks for the mark);
* LangChain's benchmark of building a model runs one round, not dozens
  (building any `AzureChatOpenAI` takes tens of milliseconds);
* a standard test that checks a feature the class declares it lacks skips
  itself, and a skip fails the suite in CI (see tests/conftest.py). Such
  tests are left out instead, each named with its reason in its class's
  ``NOT_APPLICABLE``.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest

from aoai_fallbacks.emulator import DeploymentConfig, Emulator, run_emulator
from aoai_fallbacks.testing import FakeClock

from ._support import DEPLOYMENT

_HERE = Path(__file__).parent


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator(clock: FakeClock) -> Iterator[Emulator]:
    """Two resources with room to spare."""
    with run_emulator(2, [DeploymentConfig(DEPLOYMENT, tpm=1_000_000)], clock=clock) as emu:
        yield emu


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No ``AOAI_*`` variable and no ``.env`` file: set what a test needs with the
    `MonkeyPatch` this returns, and all is restored after it."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("AOAI_")]:
        monkeypatch.delenv(name)
    return monkeypatch


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_pycollect_makeitem(
    collector: pytest.Collector, name: str, obj: object
) -> Generator[None, pluggy.Result[Any], None]:
    outcome = yield
    if not inspect.iscoroutinefunction(obj):
        return
    made = outcome.get_result()
    for item in made if isinstance(made, list) else [made]:
        if isinstance(item, pytest.Function):
            item.add_marker(pytest.mark.asyncio)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        if _HERE not in item.path.parents:
            kept.append(item)
            continue
        not_applicable = getattr(item.cls, "NOT_APPLICABLE", {})
        if getattr(item, "originalname", item.name) in not_applicable:
            dropped.append(item)
            continue
        if item.get_closest_marker("benchmark"):
            item.add_marker(pytest.mark.benchmark(min_rounds=1, max_time=0.001), append=False)
        kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
