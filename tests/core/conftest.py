"""Fixtures for the core's unit tests: a fake clock and a balancer on it with a seeded rng."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from aoai_fallbacks.balancer import Balancer
from aoai_fallbacks.config import Backend
from aoai_fallbacks.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


MakeBalancer = Callable[..., Balancer]


@pytest.fixture
def make_balancer(clock: FakeClock) -> MakeBalancer:
    """Balancer(backends, **options) on the fake clock with a seeded rng."""

    def make(backends: list[Backend], **options: Any) -> Balancer:
        options.setdefault("clock", clock)
        options.setdefault("rng", random.Random(1234))
        return Balancer(backends, **options)

    return make
