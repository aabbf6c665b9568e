"""Fixtures of the emulator tests: one resource on a fake clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aoai_fallbacks.emulator import DeploymentConfig, Emulator, Resource, run_emulator
from aoai_fallbacks.testing import FakeClock

from ._support import DEPLOYMENT


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator(clock: FakeClock) -> Iterator[Emulator]:
    """One resource, one deployment of 10,000 TPM (60 RPM), on a fake clock."""
    with run_emulator(deployments=[DeploymentConfig(DEPLOYMENT)], clock=clock) as emu:
        yield emu


@pytest.fixture
def resource(emulator: Emulator) -> Resource:
    return emulator.resources[0]
