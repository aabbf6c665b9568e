"""Drive one approach through one scenario on a fresh emulator, and collect what happened.

Each (scenario, approach) pair gets its own emulator, so the backends' counts
are that approach's alone. Requests are sent on the workload's schedule as
asyncio tasks (open loop); the run ends when every request has ended or the
hard wall-time bound passes, whichever is first, and requests still running
then are cancelled and counted as client-visible errors ("unfinished").
The closed loop (`closed`) reuses its pieces: a fresh emulator with the
approach built over it (`emulated`), one request sent and recorded (`ask`),
and a run on its own event loop that closes the approach's clients
(`run_closing`).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aoai_fallbacks._cli.bench.approaches import Approach, Asker, Options
from aoai_fallbacks._cli.bench.metrics import UNFINISHED, RequestRecord, RunMetrics, summarize
from aoai_fallbacks._cli.bench.scenarios import BASELINE, DEPLOYMENT, WINDOW, Scenario, Setup
from aoai_fallbacks._cli.bench.workload import Arrival, open_loop

if TYPE_CHECKING:
    from aoai_fallbacks.emulator import DeploymentConfig, Emulator

__all__ = ["Run", "Sample", "ask", "drive", "emulated", "run_closing", "run_one"]

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


async def ask(
    asker: Asker, index: int, prompt: str, scheduled: float, start: float
) -> RequestRecord:
    """Send request `index` through `asker`: its record, latency counted from `scheduled`
    seconds after `start` (a `time.monotonic()` reading), whether it was answered or failed."""
    due = start + scheduled
    try:
        backend = await asker.ask(prompt)
    except asyncio.CancelledError:
        raise
    except Exception as error:  # any failure the client sees is a result here, not a crash
        return RequestRecord(index, scheduled, time.monotonic() - due, type(error).__name__)
    return RequestRecord(index, scheduled, time.monotonic() - due, backend=backend)


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
        records.append(await ask(asker, arrival.index, arrival.prompt, arrival.at, start))

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


@contextmanager
def emulated(
    approach: Approach,
    deployment: DeploymentConfig,
    *,
    resources: int,
    latency: float,
    options: Options,
    seed: int,
    faults: Mapping[str, Mapping[str, Any]] | None = None,
) -> Iterator[tuple[Emulator, Asker]]:
    """A fresh emulator of `resources` resources serving `deployment` (answers taking
    `latency` s, plus `faults` per resource name), and `approach` built over them.

    The caller closes the asker (`aclose`) on the event loop that used it.
    """
    from aoai_fallbacks.config import load_backends
    from aoai_fallbacks.emulator import run_emulator

    with run_emulator(resources, (deployment,), seed=seed) as emulator:
        for resource in emulator.resources:
            extra = (faults or {}).get(resource.name, {})
            resource.set_faults(deployment.name, **{"latency": latency, **extra})
        backends = load_backends(emulator.env(deployment=deployment.name), dotenv=False)
        if approach.single_backend:
            backends = backends[:1]
        yield emulator, approach.build(backends, options)


def run_closing(asker: Asker, work: Coroutine[Any, Any, None]) -> None:
    """Run `work` to its end on a fresh event loop, then close `asker` on that same loop."""

    async def main() -> None:
        try:
            await work
        finally:
            await asker.aclose()

    asyncio.run(main())


def run_one(setup: Setup, scenario: Scenario, approach: Approach) -> Run:
    """Run `approach` through `scenario` on a fresh emulator; blocks for up to duration + grace."""
    from aoai_fallbacks.emulator import DeploymentConfig

    deployment = DeploymentConfig(DEPLOYMENT, tpm=setup.tpm, rpm=setup.rpm)
    resources = 1 if scenario.name == BASELINE else setup.resources
    with emulated(
        approach,
        deployment,
        resources=resources,
        latency=setup.latency,
        options=setup.options(),
        seed=setup.seed,
        faults=scenario.faults,
    ) as (emulator, asker):
        names = tuple(resource.name for resource in emulator.resources)
        timeline: list[Sample] = []

        def sample(at: float) -> None:
            served = tuple(r.stats(DEPLOYMENT).served for r in emulator.resources)
            timeline.append(Sample(at, served))

        records: list[RequestRecord] = []
        capacity = resources * setup.rpm / 60.0
        arrivals = _arrivals(setup, scenario, capacity)

        run_closing(
            asker,
            drive(
                asker,
                arrivals,
                deadline=scenario.duration + setup.grace,
                records=records,
                sample=sample,
            ),
        )
        attempts = emulator.stats(DEPLOYMENT)
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
