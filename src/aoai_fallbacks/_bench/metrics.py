"""What one run of one approach amounts to: the numbers the report compares.

The client side (`RequestRecord`s) says what the user saw: answers, errors,
latency. The emulator's stats (`Attempts`) say what the backends saw: every
attempt, including the 429s and failures the client never hears about. Both
are needed: "wasted attempts per answer" is backend-side work divided by
client-side success.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Attempts", "RequestRecord", "RunMetrics", "percentiles", "summarize"]

UNFINISHED = "unfinished"
"""The error kind of a request still running when the run's wall-time bound hit."""


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """How one request ended, as the client saw it.

    `latency` runs from the *scheduled* arrival to the end (answer or error);
    None for a request cut off by the run's deadline. `backend` names who
    answered, when the approach tells.
    """

    index: int
    scheduled: float
    latency: float | None
    error: str | None = None
    backend: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class Attempts:
    """The emulator's counts for one run, summed over every backend."""

    requests: int = 0
    served: int = 0
    throttled: int = 0
    failed: int = 0
    rejected: int = 0

    def __add__(self, other: Attempts) -> Attempts:
        return Attempts(
            self.requests + other.requests,
            self.served + other.served,
            self.throttled + other.throttled,
            self.failed + other.failed,
            self.rejected + other.rejected,
        )


@dataclass(frozen=True, slots=True)
class RunMetrics:
    """One approach through one scenario, reduced to the compared numbers.

    `wasted` counts attempts that reached a backend and were not answered
    (429s, 5xx, hangs, rejections); `capacity_used` is the answers completed
    within the planned duration over the requests the backends' quotas admit
    in it (see `scenarios` for why requests are the binding unit); `span` runs
    from the start to the last answer; `throttled_per_window` is the 429s per
    backend per Retry-After window over the span, the "never hammer" target.
    """

    approach: str
    scenario: str
    requests: int
    answers: int
    errors: int
    error_kinds: tuple[tuple[str, int], ...]
    attempts: Attempts
    wasted: int
    capacity_used: float
    span: float
    p50: float | None
    p95: float | None
    p99: float | None
    throttled_per_window: float

    @property
    def wasted_per_answer(self) -> float | None:
        return self.wasted / self.answers if self.answers else None

    @property
    def unfinished(self) -> int:
        return dict(self.error_kinds).get(UNFINISHED, 0)


def percentiles(values: Sequence[float]) -> tuple[float | None, float | None, float | None]:
    """p50, p95 and p99 of `values` (None when there are none)."""
    if not values:
        return None, None, None
    if len(values) == 1:
        return values[0], values[0], values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def summarize(
    *,
    approach: str,
    scenario: str,
    records: Sequence[RequestRecord],
    attempts: Attempts,
    duration: float,
    available: int,
    backends: int,
    window: float,
) -> RunMetrics:
    """Reduce a run to its `RunMetrics`.

    `available` is the number of requests the quotas of all the scenario's
    backends admit within the planned `duration` (whichever of them the
    approach chose to use); `window` is the quota window's length, which is
    also how long a 429's Retry-After keeps a backend out.
    """
    answered = [r for r in records if r.ok and r.latency is not None]
    ends = [r.scheduled + r.latency for r in answered if r.latency is not None]
    in_time = sum(1 for end in ends if end <= duration)
    span = max(ends, default=0.0)
    p50, p95, p99 = percentiles(sorted(r.latency for r in answered if r.latency is not None))
    kinds = Counter(r.error for r in records if r.error is not None)
    windows = max(span, window) / window
    return RunMetrics(
        approach=approach,
        scenario=scenario,
        requests=len(records),
        answers=len(answered),
        errors=len(records) - len(answered),
        error_kinds=tuple(sorted(kinds.items())),
        attempts=attempts,
        wasted=attempts.requests - attempts.served,
        capacity_used=in_time / available if available > 0 else 0.0,
        span=span,
        p50=p50,
        p95=p95,
        p99=p99,
        throttled_per_window=attempts.throttled / (backends * windows) if backends else 0.0,
    )
