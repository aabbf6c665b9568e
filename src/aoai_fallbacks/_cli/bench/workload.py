"""Seeded workloads: open-loop arrivals (requests sent on a schedule, not when the last one
returns), and the prompts of a closed loop (`closed` drives it).

A closed loop (send, wait, send) slows down exactly when the service does and
so hides the waits a user would suffer ("coordinated omission"). Here the
arrival times are fixed in advance from the target rate and a seed, every
approach gets the same schedule, and latency is measured from the scheduled
arrival, not from whenever the client got round to sending. The closed loop
is measured too, because batch jobs and agents do load a deployment that way,
but judged against what a fair queue would give it (`metrics.fair_bound`),
never read as the wait a user would suffer under an open load.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["TOPICS", "Arrival", "open_loop", "prompts"]

TOPICS = (
    "parrots",
    "compilers",
    "quotas",
    "coffee",
    "rate limits",
    "penguins",
    "load balancers",
    "Mondays",
    "the cloud",
    "retries",
    "cats",
    "deadlines",
)
"""Joke subjects: the seed chain asks for a joke about a topic."""


@dataclass(frozen=True, slots=True)
class Arrival:
    """One request of a workload: when it is due (seconds after the start) and what it asks."""

    index: int
    at: float
    prompt: str


def open_loop(rate: float, count: int, *, seed: int = 0, poisson: bool = True) -> list[Arrival]:
    """`count` arrivals at `rate` per second on average, reproducible from `seed`.

    Poisson arrivals (exponential gaps) model many independent users; with
    ``poisson=False`` the gaps are even, which the demo uses for a steady show.
    """
    if rate <= 0:
        raise ValueError(f"rate must be positive, not {rate}")
    if count < 0:
        raise ValueError(f"count must not be negative, not {count}")
    rng = random.Random(seed)
    arrivals: list[Arrival] = []
    at = 0.0
    for index in range(count):
        arrivals.append(Arrival(index, at, _joke(rng)))
        at += rng.expovariate(rate) if poisson else 1.0 / rate
    return arrivals


def prompts(count: int, *, seed: int = 0) -> list[str]:
    """`count` prompts, reproducible from `seed`: a closed loop's requests have no schedule."""
    if count < 0:
        raise ValueError(f"count must not be negative, not {count}")
    rng = random.Random(seed)
    return [_joke(rng) for _ in range(count)]


def _joke(rng: random.Random) -> str:
    return f"Tell me a joke about {rng.choice(TOPICS)}."
