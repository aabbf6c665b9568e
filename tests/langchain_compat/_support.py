"""Helpers of the LangChain compatibility tests."""

from __future__ import annotations

from typing import Any

from aoai_fallbacks import Balancer, load_backends
from aoai_fallbacks.emulator import Emulator
from aoai_fallbacks.testing import FakeClock

DEPLOYMENT = "gpt-4o"


def balancer_of(emulator: Emulator, clock: FakeClock, **options: Any) -> Balancer:
    """A balancer over every resource of `emulator`, on `clock`."""
    return Balancer(load_backends(emulator.env(), dotenv=False), clock=clock, **options)
