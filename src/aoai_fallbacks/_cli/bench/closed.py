"""The closed loop: N workers, each sending its next request as soon as its last one ended.

That is how batch jobs and agents load a deployment: a fixed crowd of workers
that never leaves a slot of capacity idle if the client can find it. The run
lasts until `requests` requests have been answered or have failed, so its
length measures how much of the capacity the approach used; a request's
latency runs from its send to its end (there is no schedule), and is judged
against the fair-queue bound (`metrics.fair_bound`), the latency a perfect
FIFO queue in front of the same capacity would give.

The default shape is the stand-in a user reported: 3 resources admitting 10
requests per 10 s window each (60 RPM; tokens far from binding), 1 s per
answer, 8 workers and 300 requests: 8 workers asking 8 requests/s of a
capacity of 3, a 2.7x overload. It runs once per throttling dialect
(`dialects`), each on a fresh emulator. The quick run (CI) counts every
dialect's requests over 1 s windows, with shorter answers and fewer
requests, so that throttling starts within a second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from aoai_fallbacks._cli.bench.approaches import Approach, Asker
from aoai_fallbacks._cli.bench.dialects import Dialect
from aoai_fallbacks._cli.bench.engine import ask, emulated, run_closing
from aoai_fallbacks._cli.bench.metrics import (
    UNFINISHED,
    Attempts,
    ClosedMetrics,
    RequestRecord,
    fair_bound,
    full_windows,
    summarize,
)
from aoai_fallbacks._cli.bench.scenarios import DEPLOYMENT, Emulated
from aoai_fallbacks._cli.bench.workload import prompts
from aoai_fallbacks.emulator import DeploymentConfig

__all__ = [
    "ClosedSetup",
    "closed_metrics",
    "drive_closed",
    "full_closed_setup",
    "quick_closed_setup",
    "run_closed",
]

MINUTE = 60.0


@dataclass(frozen=True)
class ClosedSetup(Emulated):
    """Everything a closed-loop run needs to be reproduced."""

    rpm: int = 60
    """Requests per minute per deployment; a multiple of 60, so that a 1 s window, like a
    10 s one, admits a whole number of requests (RPM/60 per 1 s = RPM/6 per 10 s)."""
    latency: float = 1.0
    grace: float = 30.0
    """The hard bound is twice the ideal run plus this; requests unfinished then are cut."""
    workers: int = 8
    requests: int = 300
    request_window: float | None = None
    """Seconds every dialect counts requests over; None: each dialect's own."""

    def __post_init__(self) -> None:
        if self.rpm < 60 or self.rpm % 60:
            raise ValueError(f"rpm must be a positive multiple of 60, not {self.rpm}")
        if self.workers < 1 or self.requests < 1:
            raise ValueError("a closed loop needs at least one worker and one request")

    def window(self, dialect: Dialect) -> float:
        """Seconds over which `dialect`'s deployments count requests in this setup."""
        return dialect.request_window if self.request_window is None else self.request_window

    def deployment(self, dialect: Dialect) -> DeploymentConfig:
        return dialect.deployment(
            DEPLOYMENT, rpm=self.rpm, tpm=self.tpm, request_window=self.request_window
        )

    def capacity(self, dialect: Dialect) -> float:
        """Requests per second the quotas leave to the loop: all, less a neighbour's share."""
        return self.resources * self.rpm / MINUTE * (1.0 - dialect.neighbour)

    def deadline(self, dialect: Dialect) -> float:
        """The hard bound in seconds: twice the ideal run, plus `grace`."""
        ideal = self.requests / self.capacity(dialect) + self.latency
        return 2 * ideal + self.grace


def full_closed_setup(requests: int | None = None) -> ClosedSetup:
    """The stand-in's shape: 300 requests (or `requests`) on 10 s windows, 1 s answers."""
    return ClosedSetup() if requests is None else ClosedSetup(requests=requests)


def quick_closed_setup(requests: int | None = None) -> ClosedSetup:
    """CI's smoke test: 1 s windows at 120 RPM, 0.2 s answers, 12 requests per dialect."""
    return ClosedSetup(
        rpm=120,
        latency=0.2,
        requests=12 if requests is None else requests,
        attempt_timeout=1.0,
        request_window=1.0,
        grace=2.0,
    )


async def drive_closed(
    asker: Asker,
    requests: Sequence[str],
    *,
    workers: int,
    deadline: float,
    records: list[RequestRecord],
) -> None:
    """Send `requests` through `asker` from `workers` workers; one record per request.

    Each worker takes the next request not yet taken, sends it, and takes
    another as soon as it has ended, so no more than `workers` are ever in
    flight and each request is sent once. At `deadline` seconds after the
    start the workers are cancelled: requests in flight then, and those never
    sent, are recorded as unfinished, so every request has exactly one record.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    start = time.monotonic()
    queue = iter(enumerate(requests))
    in_flight: dict[int, float] = {}

    async def worker() -> None:
        for index, prompt in queue:
            sent = time.monotonic() - start
            in_flight[index] = sent
            records.append(await ask(asker, index, prompt, sent, start))
            del in_flight[index]

    tasks = [asyncio.create_task(worker()) for _ in range(min(workers, len(requests)))]
    try:
        done, _ = await asyncio.wait(tasks, timeout=deadline)
        for task in done:
            task.result()  # a fault in the driver itself is a crash, not a result
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        records.extend(RequestRecord(i, sent, None, UNFINISHED) for i, sent in in_flight.items())
        records.extend(RequestRecord(i, deadline, None, UNFINISHED) for i, _ in queue)


def run_closed(setup: ClosedSetup, dialect: Dialect, approach: Approach) -> ClosedMetrics:
    """Run `approach` through the closed loop on a fresh emulator speaking `dialect`.

    Blocks until every request has ended, or the setup's hard bound.
    """
    records: list[RequestRecord] = []
    with emulated(
        approach,
        setup.deployment(dialect),
        resources=setup.resources,
        latency=setup.latency,
        options=setup.options(),
        seed=setup.seed,
    ) as (emulator, asker):
        work = drive_closed(
            asker,
            prompts(setup.requests, seed=setup.seed),
            workers=setup.workers,
            deadline=setup.deadline(dialect),
            records=records,
        )
        run_closing(asker, work)
        attempts = emulator.stats(DEPLOYMENT)
    return closed_metrics(setup, dialect, approach.name, records, attempts)


def closed_metrics(
    setup: ClosedSetup,
    dialect: Dialect,
    approach: str,
    records: Sequence[RequestRecord],
    attempts: Attempts,
) -> ClosedMetrics:
    """What a closed-loop run on `dialect` amounts to, from one record per request and the
    emulator's counts; capacity used is counted over the run's `full_windows`.

    The run ends when its last request ended, answered or not: a loop that still
    has requests to send wastes the capacity it leaves idle, even after its last
    answer. A request cut at the hard bound ended then.
    """
    capacity = setup.capacity(dialect)
    window = setup.window(dialect)
    bound = setup.deadline(dialect)
    last = max(
        (bound if r.latency is None else r.scheduled + r.latency for r in records), default=0.0
    )
    windows = full_windows(last, service=setup.latency, window=window)
    run = summarize(
        approach=approach,
        scenario=dialect.name,
        records=sorted(records, key=lambda r: r.index),
        attempts=attempts,
        duration=windows * window + setup.latency,
        available=capacity * window * windows,
        backends=setup.resources,
        window=window,
    )
    return ClosedMetrics(
        run=run,
        workers=setup.workers,
        capacity=capacity,
        service=setup.latency,
        fair_bound=fair_bound(setup.workers, capacity, setup.latency),
        throughput=run.answers / last if last else 0.0,
    )
