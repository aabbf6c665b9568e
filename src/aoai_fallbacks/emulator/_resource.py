"""One emulated Azure OpenAI resource: an endpoint, a key and its deployments."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import Any

from aoai_fallbacks.emulator._deployment import (
    Counters,
    Deployment,
    DeploymentConfig,
    DeploymentStats,
)
from aoai_fallbacks.emulator._faults import Faults
from aoai_fallbacks.emulator._quota import MonotonicClock
from aoai_fallbacks.emulator._store import ResponseStore


class Resource:
    """An Azure OpenAI resource on a loopback port.

    `endpoint` and `key` are what a client needs; faults and counts are per
    deployment. The key never appears in the repr.
    """

    def __init__(
        self,
        name: str,
        key: str,
        deployments: Sequence[DeploymentConfig],
        *,
        faults: Mapping[str, Faults],
        clock: MonotonicClock,
        seed: int,
    ) -> None:
        self.name = name
        self.key = key
        self.endpoint = ""
        """`http://127.0.0.1:PORT`, set once the server has bound its port."""
        self.seed = seed
        self.deployments: dict[str, Deployment] = {
            config.name: Deployment(
                config,
                faults=faults.get(config.name, Faults()),
                clock=clock,
                seed=f"{seed}:{name}:{config.name}",
            )
            for config in deployments
        }
        self.counters = Counters()
        self.responses = ResponseStore()
        """Responses created here with `store` on: retrievable only here."""
        self.ids = random.Random(f"{seed}:{name}:ids")
        """Draws request and completion ids; only the server thread uses it."""
        self.closing = asyncio.Event()
        """Set by the server as it stops, to release hanging requests."""
        self.handling: Callable[[], AbstractContextManager[object]] = getattr(
            clock, "busy", nullcontext
        )
        """Held while a request is handled: a simulated clock (`FakeClock.busy`) must not
        move then, so the request is charged and answered at the time it arrived."""

    def _deployment(self, name: str) -> Deployment:
        try:
            return self.deployments[name]
        except KeyError:
            raise KeyError(f"resource {self.name} has no deployment {name!r}") from None

    def set_faults(self, deployment: str, **faults: Any) -> Faults:
        """Change some of a deployment's faults while the emulator runs; returns them all."""
        return self._deployment(deployment).set_faults(**faults)

    def faults(self, deployment: str) -> Faults:
        """A copy of the deployment's current faults."""
        return self._deployment(deployment).faults

    def stats(self, deployment: str) -> DeploymentStats:
        """What reached `deployment` here (any name: requests to missing ones count too),
        and what its neighbour sent it up to now."""
        stats = self.counters.get(deployment)
        live = self.deployments.get(deployment)
        if live is None or not live.config.neighbour:
            return stats
        served, throttled = live.quota.neighbour_counts()
        return replace(stats, neighbour_served=served, neighbour_throttled=throttled)

    def reset(self) -> None:
        """Forget counts, quota use and stored responses, restore the starting faults and
        reseed."""
        for deployment in self.deployments.values():
            deployment.reset()
        self.counters.clear()
        self.responses.clear()
        self.ids = random.Random(f"{self.seed}:{self.name}:ids")

    def __repr__(self) -> str:
        return (
            f"Resource(name={self.name!r}, endpoint={self.endpoint!r}, "
            f"deployments={list(self.deployments)!r})"
        )
