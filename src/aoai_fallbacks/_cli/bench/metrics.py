"""What one run of one approach amounts to: the numbers the report compares.

The client side (`RequestRecord`s) says what the user saw: answers, errors,
latency. The emulator's stats (`Attempts`: its `DeploymentStats`, summed over
the backends) say what the backends saw: every attempt, including the 429s
and failures the client never hears about. Both are needed: "wasted attempts
per answer" is backend-side work divided by client-side success.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from aoai_fallbacks.emulator import DeploymentStats as Attempts

__all__ = [
    "Attempts",
    "ClosedMetrics",
    "RequestRecord",
    "RunMetrics",
    "fair_bound",
    "full_windows",
    "percentiles",
    "summarize",
]

UNFINISHED = "unfinished"
"""The error kind of a request still running when the run's wall-time bound hit."""


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """How one request ended, as the client saw it.

    `latency` runs from the *scheduled* arrival to the end (answer or error);
    None for a request cut off by the run's deadline. In a closed loop there is
    no schedule: `scheduled` is when the request was sent. `backend` names who
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
class RunMetrics:
    """One approach through one scenario, reduced to the compared numbers.

    `wasted` counts attempts that reached a backend and were not answered
    (429s, 5xx, hangs, rejections); `capacity_used` is the answers completed
    within the planned duration over the requests the backends' quotas admit
    in it (see `scenarios` for why requests are the binding unit); `span` runs
    from the start to the last answer.

    Two views of the 429s. `throttled_per_window`: per backend per 10 s quota
    window over the span; a balancer that learns of a full backend only by
    asking pays about one 429 each time a slot frees up, so at overload this
    grows with the load, not with any hammering. `throttled_per_cooldown`:
    429s per Retry-After window announced, i.e. 1 plus the 429s to requests
    sent while a backend's last Retry-After still ran, over the 429s that
    opened one: the "never hammer a throttled deployment" target, 1.0 when no
    request ever arrived during a cooldown.
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
    max_latency: float | None
    mean_latency: float | None
    throttled_per_window: float
    throttled_per_cooldown: float

    @property
    def wasted_per_answer(self) -> float | None:
        return self.wasted / self.answers if self.answers else None

    @property
    def attempts_per_answer(self) -> float | None:
        """Requests the backends received per answer: 1.0 when nothing was sent twice."""
        return self.attempts.requests / self.answers if self.answers else None

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
    available: float,
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
    last = max(ends, default=0.0)
    latencies = sorted(r.latency for r in answered if r.latency is not None)
    p50, p95, p99 = percentiles(latencies)
    kinds = Counter(r.error for r in records if r.error is not None)
    windows = max(last, window) / window
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
        span=last,
        p50=p50,
        p95=p95,
        p99=p99,
        max_latency=latencies[-1] if latencies else None,
        mean_latency=statistics.fmean(latencies) if latencies else None,
        throttled_per_window=attempts.throttled / (backends * windows) if backends else 0.0,
        throttled_per_cooldown=_per_cooldown(attempts),
    )


def fair_bound(workers: int, capacity: float, service: float) -> float:
    """The latency a fair FIFO queue gives a closed loop in steady state.

    `workers` each send their next request as soon as the last is answered,
    to backends that admit `capacity` requests per second and answer each in
    `service` seconds. When they ask for more than the capacity (workers /
    service > capacity) the queue fills, the answers come out at `capacity`
    per second, and Little's law (requests in the system = throughput x time in
    it) gives each request workers / capacity seconds of waiting and service.
    Otherwise nothing waits and a request takes its service time.
    """
    return max(workers / capacity, service)


def full_windows(last: float, *, service: float, window: float) -> int:
    """Whole quota windows from the start to `service` seconds before the run's end, `last`
    (when its last request ended): to the admission of its last answer, if that came last.

    A closed loop's capacity used is counted over these windows only: the
    answers admitted in them (ended before `full_windows x window + service`)
    over the requests the quotas admit in them. From empty windows a quota
    admits a whole window's worth at once, so answers over the run's length
    x capacity per second would credit that first burst to the approach (a
    perfect loop of 300 requests on 3 deployments of 10 per 10 s reads 106%);
    and the last, partial window has less demand than capacity, as the loop
    runs out of requests. Over whole windows no approach can exceed 100%, and
    a perfect one reaches it.
    """
    return max(math.floor((last - service) / window), 1)


@dataclass(frozen=True, slots=True)
class ClosedMetrics:
    """One approach through the closed loop on one dialect: `run` (its scenario is the
    dialect's name; its `capacity_used` is counted over `full_windows`) and the loop's
    shape, with the fair-queue bound its latencies are judged against."""

    run: RunMetrics
    workers: int
    capacity: float
    """Requests per second the quotas leave to the loop (less a neighbour's share)."""
    service: float
    """Seconds the backends take to answer an admitted request."""
    fair_bound: float
    throughput: float
    """Answers per second over the run, from the start to the end of its last request."""


def _per_cooldown(attempts: Attempts) -> float:
    """429s per Retry-After window: each 429 not sent during one opened one."""
    opened = attempts.throttled - attempts.throttled_early
    return attempts.throttled / opened if opened else 0.0
