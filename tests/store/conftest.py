"""Fixtures of the shared-state tests: balancers that share a real redis-server.

Each `Balancer` gets a `RedisStore` of its own, as a balancer in another
process would: facts cross Redis, never this process's memory. They share one
`FakeClock`, as processes on one machine share its clock.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from aoai_fallbacks.balancer import Balancer
from aoai_fallbacks.config import Backend
from aoai_fallbacks.redis_store import RedisStore
from aoai_fallbacks.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """Wall clock = monotonic clock: facts carry wall-clock times, and at today's epoch a
    float tells apart only sends a quarter of a microsecond apart, while the requests a
    simulated clock sends at one instant are told apart by less (`Window.charge`)."""
    return FakeClock(wall_start=1_000.0)


MakeStore = Callable[..., RedisStore]
MakeBalancer = Callable[..., Balancer]


@pytest.fixture
def make_store(redis_url: str) -> Iterator[MakeStore]:
    """RedisStore(url of the session's redis-server, **options), closed after the test."""
    stores: list[RedisStore] = []

    def make(**options: Any) -> RedisStore:
        options.setdefault("retry_every", 0.05)
        store = RedisStore(options.pop("url", redis_url), **options)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def make_balancer(clock: FakeClock, make_store: MakeStore) -> MakeBalancer:
    """A balancer on the fake clock with a seeded rng and a store of its own ("a process")."""
    seeds = iter(range(1000))

    def make(backends: list[Backend], **options: Any) -> Balancer:
        options.setdefault("clock", clock)
        options.setdefault("rng", random.Random(next(seeds)))
        if "store" not in options:
            options["store"] = make_store()
        return Balancer(backends, **options)

    return make
