"""Helpers of the shared-state tests: waiting for what another balancer was told."""

from __future__ import annotations

import time
from collections.abc import Callable

from aoai_fallbacks.balancer import BackendStatus, Balancer

DELIVERY = 10.0
"""Seconds a fact may take to cross Redis on a busy machine (it takes about a millisecond)."""


def eventually(check: Callable[[], bool], what: str) -> None:
    """Return once `check()` holds: facts cross Redis on other threads. Fails after `DELIVERY`."""
    deadline = time.monotonic() + DELIVERY
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.001)


def status(balancer: Balancer, name: str) -> BackendStatus:
    return next(s for s in balancer.snapshot() if s.name == name)
