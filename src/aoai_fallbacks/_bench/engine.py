"""Drive one approach through one scenario on a fresh emulator, and collect what happened.

Each (scenario, approach) pair gets its own emulator, so the backends' counts
are that approach's alone. Requests are sent on the workload's schedule as
asyncio tasks (open loop); the run ends when every request has ended or the
hard wall-time bound passes, whichever is first, and requests still running
then are cancelled and counted as client-visible errors ("unfinished").
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aoai_fallbacks._bench.approaches import Approach, Asker, Options
from aoai_fallbacks._bench.metrics import (
    UNFINISHED,
    Attempts,
    RequestRecord,
    RunMetrics,
    summarize,
)
from aoai_fallbacks._bench.scenarios import BASELINE, DEPLOYMENT, WINDOW, Scenario, Setup
from aoai_fallbacks._bench.workload import Arrival, open_loop

__all__ = ["Run", "Sample", "drive", "run_one"]

SAMPLE_EVERY = 0.25
"""Seconds between two readings of the emulator's per-backend counts (the timeline plot)."""


@dataclass(frozen=True, slots=True)
class Sample:
    """Answers served so far by each backend, `at` seconds after the start."""

    at: float
    served: tuple[int, ...]


@dataclass(frozen=True)
class Run:
    """One approach through one scenario: its metrics and the raw material for the plots."""

    metrics: RunMetrics
    records: tuple[RequestRecord, ...]
    timeline: tuple[Sample, ...]
    backend_names: tuple[str, ...]


async def drive(
    asker: Asker,
    arrivals: Sequence[Arrival],
    *,
    deadline: float,
    records: list[RequestRecord],
    sample: Callable[[float], None] | None = None,
) -> None:
    """Send `arrivals` on schedule through `asker`; append one record per request to `records`.

    `deadline` is the hard bound in seconds after the start. `sample(t)` is
    called every `SAMPLE_EVERY` seconds while the run lasts. Records are
    appended as requests end, so a caller interrupted half-way (Ctrl-C) still
    holds everything that ended so far.
    """
    start = time.monotonic()

    async def one(arrival: Arrival) -> None:
        due = start + arrival.at
        try:
            backend = await asker.ask(arrival.prompt)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # any failure the client sees is a result here, not a crash
            records.append(
                RequestRecord(
                    arrival.index, arrival.at, time.monotonic() - due, type(error).__name__
                )
            )
        else:
            records.append(
                RequestRecord(arrival.index, arrival.at, time.monotonic() - due, backend=backend)
            )

    async def sampler() -> None:
        while sample is not None:
            sample(time.monotonic() - start)
            await asyncio.sleep(SAMPLE_EVERY)

    sampling = asyncio.create_task(sampler())
    tasks: dict[asyncio.Task[None], Arrival] = {}
    try:
        for arrival in arrivals:
            delay = start + arrival.at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks[asyncio.create_task(one(arrival))] = arrival
        remaining = start + deadline - time.monotonic()
        if tasks and remaining > 0:
            await asyncio.wait(tasks, timeout=remaining)
    finally:
        sampling.cancel()
        cut = [(task, arrival) for task, arrival in tasks.items() if not task.done()]
        for task, _ in cut:
            task.cancel()
        await asyncio.gather(sampling, *(task for task, _ in cut), return_exceptions=True)
        records.extend(RequestRecord(a.index, a.at, None, UNFINISHED) for _, a in cut)
        if sample is not None:
            sample(time.monotonic() - start)


def _arrivals(setup: Setup, scenario: Scenario, capacity: float) -> list[Arrival]:
    rate = capacity * scenario.load
    return open_loop(rate, max(1, round(rate * scenario.duration)), seed=setup.seed)


def run_one(setup: Setup, scenario: Scenario, approach: Approach) -> Run:
    """Run `approach` through `scenario` on a fresh emulator; blocks for up to duration + grace."""
    from aoai_fallbacks.config import load_backends
    from aoai_fallbacks.emulator import DeploymentConfig, run_emulator

    deployment = DeploymentConfig(DEPLOYMENT, tpm=setup.tpm, rpm=setup.rpm)
    resources = 1 if scenario.name == BASELINE else setup.resources
    with run_emulator(resources, (deployment,), seed=setup.seed) as emulator:
        for resource in emulator.resources:
            faults = {"latency": setup.latency, **scenario.faults.get(resource.name, {})}
            resource.set_faults(DEPLOYMENT, **faults)
        backends = load_backends(emulator.env(deployment=DEPLOYMENT), dotenv=False)
        if approach.single_backend:
            backends = backends[:1]
        asker = approach.build(
            backends, Options(max_tokens=setup.max_tokens, attempt_timeout=setup.attempt_timeout)
        )
        names = tuple(resource.name for resource in emulator.resources)
        timeline: list[Sample] = []

        def sample(at: float) -> None:
            served = tuple(r.stats(DEPLOYMENT).served for r in emulator.resources)
            timeline.append(Sample(at, served))

        records: list[RequestRecord] = []
        capacity = resources * setup.rpm / 60.0
        arrivals = _arrivals(setup, scenario, capacity)

        async def main() -> None:
            try:
                await drive(
                    asker,
                    arrivals,
                    deadline=scenario.duration + setup.grace,
                    records=records,
                    sample=sample,
                )
            finally:
                await asker.aclose()

        asyncio.run(main())
        attempts = Attempts()
        for resource in emulator.resources:
            stats = resource.stats(DEPLOYMENT)
            attempts += stats
    windows = max(1, math.ceil(scenario.duration / WINDOW))
    metrics = summarize(
        approach=approach.name,
        scenario=scenario.name,
        records=sorted(records, key=lambda r: r.index),
        attempts=attempts,
        duration=scenario.duration,
        available=resources * setup.per_window() * windows,
        backends=resources,
        window=WINDOW,
    )
    return Run(metrics, tuple(sorted(records, key=lambda r: r.index)), tuple(timeline), names)
