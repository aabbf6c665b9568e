"""What one `Balancer` tells the others about its backends, and the seam a store plugs into.

A balancer learns throttle knowledge from its own attempts: cooldowns,
circuits, quarantines, remaining quota, the learned request window, and
which requests are in flight where. Several processes in front of the same
deployments each learn it alone unless they share it, and each one's window
is wrong while the others spend the same quota. A `Store` shares it.

What is shared are *facts*, each one small and final: "a request was sent to
this deployment at t", "it was answered (and charged, or not)", "it is cooling
until u". Every balancer keeps its whole model locally and applies the facts
the others tell, so the request path reads local memory only, and a store
that vanishes leaves each process as it would be alone. Times in facts are
wall-clock seconds (processes share no monotonic clock); each balancer turns
them into its own monotonic time. (At today's epoch a float tells apart wall-clock
times a quarter of a microsecond apart: no two requests are sent closer than that.)

A deployment is named in facts by `deployment_key`: a hash of its endpoint
and deployment name, the same in every process configured alike, and never a
key or a secret.

The facts (a tuple: kind, deployment key, then its fields):

=========== ======================================================
``sent``     ``at, cost``: handed out at ``at`` with ``cost`` tokens; in flight
``charged``  ``at``: sent earlier, in the window, no longer in flight
``settled``  ``at, cost, charged``: the request sent at ``at`` was answered;
             ``charged`` False if it did not count against the window
``cooled``   ``until, cause``: throttled until ``until`` (extends, never shortens)
``blocked``  ``mode, until, cause``: circuit ``open`` or ``quarantined`` until ``until``
``healthy``  a success: the circuit is closed and the gate after a cooldown open
``quota``    ``tokens, requests, at``: remaining quota the backend reported at ``at``
``learned``  ``capacity, length, settled, shared``: the learned request window
=========== ======================================================
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from aoai_fallbacks.config import Backend

__all__ = ["Fact", "Sink", "Store", "deployment_key", "object_key"]

Fact = tuple[Any, ...]
"""``(kind, deployment key, *fields)``: see the module's docstring. JSON-serializable,
and read back from JSON: a balancer checks each field as it applies it."""


def deployment_key(backend: Backend) -> str:
    """The name every process gives `backend`'s deployment in shared state.

    A hash, so that a store's contents say nothing about the endpoints; of
    the endpoint and deployment alone, so that two processes configured
    alike agree, whatever they call the backend, and two backends on the same
    deployment (same quota) share one name.
    """
    text = f"{backend.endpoint.rstrip('/').lower()}\n{backend.deployment}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def object_key(object_id: str) -> str:
    """The name of a stored response, file or batch in shared state: a hash of its id."""
    return hashlib.sha256(object_id.encode()).hexdigest()[:24]


class Sink(Protocol):
    """What a store needs of a balancer attached to it."""

    @property
    def origin(self) -> str:
        """This balancer's own name in facts: it does not apply what it told itself."""
        ...

    def deployment_keys(self) -> frozenset[str]:
        """The deployments it balances over: facts about others are not its concern."""
        ...

    def absorb(self, facts: Sequence[Fact]) -> None:
        """Apply what other balancers learned."""
        ...

    def durable_facts(self) -> tuple[float, list[Fact]]:
        """What it knows that outlives a request (cooldowns, circuits, quota, windows),
        with its wall clock's time: written again when a restarted store comes back empty."""
        ...


class Store(Protocol):
    """Where balancers share what they learn. Nothing here may fail a request.

    `tell` is called on the request path: it must not block. `claim` and
    `admit` may do I/O (one round trip): they are called only for the one
    probe of a recovering backend, and for attempts on a window almost full.
    """

    def attach(self, sink: Sink) -> None:
        """Start telling `sink` what the others learn; first, what is known already."""
        ...

    def tell(self, origin: str, facts: Sequence[Fact], now_wall: float) -> None:
        """Share `facts`, learned by `origin`, at once or soon; never block, never raise."""
        ...

    def claim(self, origin: str, key: str, seconds: float) -> bool:
        """Take the one probe of deployment `key` for `seconds`; False if another has it.

        True when the store cannot tell (unreachable): a probe too many beats none.
        """
        ...

    def admit(
        self, origin: str, key: str, at: float, held_for: float, capacity: int
    ) -> Sequence[float] | None:
        """Count the request `origin` sends to deployment `key` at `at` in the shared window.

        Admitted (None) if fewer than `capacity` requests of every balancer
        were sent in the `held_for` seconds before; else the send times of
        the others' requests that fill it, and it is not counted. None too when
        the store cannot tell.
        """
        ...

    def own(self, object_key: str, key: str, seconds: float) -> None:
        """Record that deployment `key` created the object `object_key`, for `seconds`.

        Written at once (one round trip, for calls that create an object),
        not queued: a client may name the object to another process straight
        after. Never raises.
        """
        ...

    def owner(self, object_key: str) -> str | None:
        """The deployment key that created `object_key`; None if unknown or unreachable."""
        ...

    def unclaim(self, origin: str, key: str) -> None:
        """Give back `origin`'s probe of deployment `key`: its verdict came."""
        ...
