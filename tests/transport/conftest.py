"""Fixtures of the transport tests: one fake clock for the emulator and the balancer."""

from __future__ import annotations

import pytest

from aoai_fallbacks.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
