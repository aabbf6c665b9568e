"""Misbehaviour on demand: what a deployment should do wrong, and the seeded dice for it.

A `Faults` value is per deployment, set when the emulator starts and
replaceable while it runs (`Resource.set_faults` or the admin route), so a test
can open an outage window, close it again and watch the client recover.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields
from typing import Any

ERROR_STATUSES = (500, 503)


@dataclass
class Faults:
    """What one deployment does wrong; everything off by default."""

    latency: float = 0.0
    """The model's time on a request it admitted (or failed with `error_rate`), in seconds.

    Refusals (429, 400, 401, 404) and outages answer at once, as Azure's do.
    """
    ttft: float = 0.0
    """Seconds between a stream's headers and its first chunk."""
    error_rate: float = 0.0
    """Share of requests (0 to 1) answered with `error_status` instead."""
    error_status: int = 500
    """500 or 503."""
    hang: bool = False
    """Never answer: the request waits until the client gives up."""
    drop_after_chunks: int | None = None
    """Cut a stream's connection after this many `data:` chunks."""
    omit_retry_after: bool = False
    """Answer 429s without `retry-after` / `retry-after-ms`, as some services do.

    While on, it overrides the deployment's `DeploymentConfig.retry_after` dialect
    with "none"; the reset headers of a deployment that sends them still go out.
    """
    outage: bool = False
    """Every request fails with 503 until this is turned off."""

    def __post_init__(self) -> None:
        if self.latency < 0 or self.ttft < 0:
            raise ValueError("latency and ttft are seconds, not negative")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"error_rate is a share between 0 and 1, not {self.error_rate}")
        if self.error_status not in ERROR_STATUSES:
            raise ValueError(f"error_status must be 500 or 503, not {self.error_status}")
        if self.drop_after_chunks is not None and self.drop_after_chunks < 0:
            raise ValueError("drop_after_chunks cannot be negative")

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(field.name for field in fields(cls))

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.field_names()}


def roll_error(faults: Faults, rng: random.Random) -> bool:
    """Whether this request is one of the `error_rate` share that fails.

    The die is rolled only when a rate is set, so turning errors on does not
    shift the sequence of any other seeded choice.
    """
    return faults.error_rate > 0 and rng.random() < faults.error_rate
