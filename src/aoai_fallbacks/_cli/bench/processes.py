"""The closed loop split over several OS processes, each with its own `Balancer`, with and
without the throttle state shared through Redis.

A service scaled out runs the same code in several processes (gunicorn or
Celery workers, replicas), each with its own balancer. Alone, each learns the
quotas only from its own attempts while the others spend the same quota, and
pays its own 429s to learn it; pointed at one Redis (`RedisStore`) they learn
as one. This scenario measures both against one process with all the
workers: the closed loop's shape (`closed`), its 8 workers run as 1 process x
8 and as 4 processes x 2 without a store, with a `RedisStore`, and with a
`RedisStore` whose redis-server is killed (SIGKILL, as a crash) halfway
through the ideal run and restarted, empty, `outage` seconds later.

The emulator runs in this process. Each variant's processes are spawned, not
forked: a fresh interpreter that imports and builds everything itself, as a
separate deployment would. They run their workers on `closed.drive_closed`,
every worker of every process taking the next request from one shared counter
(as from one job queue), so each request is sent once, by whichever process
is free first, and all end together. They start together (a barrier, after
their imports and builds), send back their records, and this process reduces them as the
closed loop does (`closed.closed_metrics`), and counts across processes the
requests never recorded (lost) and those recorded twice. The bench runs its
own redis-server (`redis_server.RedisServer`) on a free loopback port.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import multiprocessing
import os
import queue
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aoai_fallbacks._cli.bench.closed import ClosedSetup, closed_metrics, quick_closed_setup
from aoai_fallbacks._cli.bench.metrics import ClosedMetrics, RequestRecord
from aoai_fallbacks._cli.bench.redis_server import RedisServer
from aoai_fallbacks._cli.bench.scenarios import DEPLOYMENT
from aoai_fallbacks._cli.bench.workload import prompts

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess
    from multiprocessing.sharedctypes import Synchronized
    from multiprocessing.synchronize import Event, Semaphore

    from aoai_fallbacks._cli.bench.approaches import Options
    from aoai_fallbacks._cli.bench.dialects import Dialect

__all__ = [
    "ProcessesRun",
    "ProcessesSetup",
    "Variant",
    "full_processes_setup",
    "quick_processes_setup",
    "redis_missing",
    "run_processes",
]

STARTUP = 180.0
"""Seconds the processes may take to import and build their balancers (several at once on
a busy two-core machine) before the run is abandoned."""


@dataclass(frozen=True)
class Variant:
    """One way of running the loop's workers: in how many processes, sharing what."""

    name: str
    processes: int
    redis: bool = False
    """Every process's balancer shares what it learns through one `RedisStore`."""
    kill: bool = False
    """redis-server is killed halfway through and restarted `outage` seconds later."""


@dataclass(frozen=True)
class ProcessesSetup(ClosedSetup):
    """The closed loop's setup, its `workers` split over `processes` processes."""

    processes: int = 4
    outage: float = 10.0
    """Seconds redis-server stays dead in the variant that kills it."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.processes < 1 or self.workers % self.processes:
            raise ValueError(
                f"{self.workers} workers do not split evenly over {self.processes} processes"
            )

    def variants(self) -> tuple[Variant, ...]:
        """All the workers in one process, then split over `processes`: alone, sharing
        through Redis, and sharing through a Redis that dies and comes back."""
        split = f"{self.processes}x{self.workers // self.processes}"
        return (
            Variant(f"1x{self.workers}", 1),
            Variant(split, self.processes),
            Variant(f"{split} redis", self.processes, redis=True),
            Variant(f"{split} redis killed", self.processes, redis=True, kill=True),
        )

    def kill_at(self, dialect: Dialect) -> float:
        """Seconds after the start when redis-server is killed: halfway through the ideal run."""
        return self.requests / self.capacity(dialect) / 2


def full_processes_setup(requests: int | None = None) -> ProcessesSetup:
    """The closed loop's stand-in (3 x 60 RPM, 1 s answers, 8 workers, 300 requests), as
    1 x 8 and 4 x 2; Redis dead for one 10 s window."""
    return ProcessesSetup() if requests is None else ProcessesSetup(requests=requests)


def quick_processes_setup(requests: int | None = None) -> ProcessesSetup:
    """CI's smoke test: the quick closed loop's shape (1 s windows, 0.2 s answers) with 4
    workers as 1 x 4 and 2 x 2, 24 requests, Redis dead for 1 s."""
    quick = dataclasses.asdict(quick_closed_setup(24 if requests is None else requests))
    return ProcessesSetup(**{**quick, "workers": 4, "processes": 2, "outage": 1.0})


@dataclass(frozen=True)
class ProcessesRun:
    """One variant through the loop on one dialect: the closed loop's metrics, and what
    only several processes can get wrong."""

    variant: Variant
    workers: int
    """Per process."""
    closed: ClosedMetrics
    lost: int
    """Requests no process recorded."""
    twice: int
    """Records beyond the first for a request (a request sent by two processes)."""
    outage: tuple[float, float] | None = None
    """When redis-server was killed and when it answered again, in seconds after the start."""


def redis_missing() -> str | None:
    """Why the Redis variants cannot run here, or None if they can."""
    if importlib.util.find_spec("redis") is None:
        return "redis-py is not installed (pip install 'aoai-fallbacks[redis]')"
    if not RedisServer.installed():
        return "redis-server is not installed (Debian: apt-get install redis-server)"
    return None


def run_processes(
    setup: ProcessesSetup, dialect: Dialect, variant: Variant, redis: RedisServer | None = None
) -> ProcessesRun:
    """Run `variant` through the closed loop on a fresh emulator speaking `dialect`.

    `redis` is the running server the Redis variants share (flushed first);
    the variant that kills it brings it back before returning. Blocks until
    every process has sent back its records, or raises RuntimeError naming
    the process that failed.
    """
    from aoai_fallbacks.emulator import run_emulator

    if variant.redis and redis is None:
        raise ValueError(f"the {variant.name} variant needs a redis-server")
    if redis is not None:
        redis.flush()
    workers = setup.workers // variant.processes
    texts = prompts(setup.requests, seed=setup.seed)
    deployment = setup.deployment(dialect)
    context = multiprocessing.get_context("spawn")
    taken: Synchronized[int] = context.Value("i", 0)
    ready, go = context.Semaphore(0), context.Event()
    results: multiprocessing.Queue[tuple[int, list[RequestRecord] | str]] = context.Queue()
    with run_emulator(setup.resources, (deployment,), seed=setup.seed) as emulator:
        for resource in emulator.resources:
            resource.set_faults(deployment.name, latency=setup.latency)
        job = _Job(
            env=emulator.env(deployment=deployment.name),
            prompts=tuple(texts),
            workers=workers,
            deadline=setup.deadline(dialect),
            options=setup.options(),
            store_url=redis.url if variant.redis and redis is not None else None,
        )
        children = [
            context.Process(
                target=_child,
                args=(dataclasses.replace(job, rank=rank), taken, ready, go, results),
                name=f"bench-{variant.name}-{rank}",
            )
            for rank in range(variant.processes)
        ]
        for child in children:
            child.start()
        try:
            _await(children, ready, results)
            go.set()
            outage = _outage(redis, setup.kill_at(dialect), setup.outage) if variant.kill else None
            records = _collect(results, variant.processes, setup.deadline(dialect) + STARTUP)
        finally:
            for child in children:
                child.join(10.0 if go.is_set() else 0.0)
                if child.is_alive():
                    child.kill()
                    child.join()
        attempts = emulator.stats(DEPLOYMENT)
    indices = [r.index for r in records]
    metrics = closed_metrics(setup, dialect, variant.name, records, attempts)
    return ProcessesRun(
        variant=variant,
        workers=workers,
        closed=metrics,
        lost=setup.requests - len(set(indices)),
        twice=len(indices) - len(set(indices)),
        outage=outage,
    )


def _await(
    children: Sequence[BaseProcess],
    ready: Semaphore,
    results: multiprocessing.Queue[tuple[int, list[RequestRecord] | str]],
) -> None:
    """Return once every one of `children` is `ready` to start; RuntimeError if one died
    first (naming what went wrong, when it could tell) or they took longer than `STARTUP`."""
    end = time.monotonic() + STARTUP
    for _ in children:
        while not ready.acquire(timeout=0.5):
            dead = [child for child in children if child.exitcode is not None]
            if dead:
                _collect(results, len(children), 1.0)  # raises with the message of one that failed
                raise RuntimeError(f"bench process {dead[0].name} exited before the start")
            if time.monotonic() > end:
                raise RuntimeError(f"the bench processes were not ready within {STARTUP:g} s")


def _outage(redis: RedisServer | None, at: float, lasting: float) -> tuple[float, float]:
    """Kill `redis` `at` seconds after now (the start), restart it `lasting` seconds later;
    when it died and when it answered again, in seconds after the start."""
    assert redis is not None
    start = time.monotonic()
    time.sleep(at)
    redis.stop()
    killed = time.monotonic() - start
    time.sleep(lasting)
    redis.start()
    return killed, time.monotonic() - start


def _collect(
    results: multiprocessing.Queue[tuple[int, list[RequestRecord] | str]],
    processes: int,
    within: float,
) -> list[RequestRecord]:
    """Every process's records, as each sends them back within `within` seconds;
    RuntimeError naming a process that failed or never answered."""
    end = time.monotonic() + within
    records: list[RequestRecord] = []
    for _ in range(processes):
        try:
            rank, sent = results.get(timeout=max(end - time.monotonic(), 0.1))
        except queue.Empty:
            raise RuntimeError(f"a bench process sent nothing back within {within:g} s") from None
        if isinstance(sent, str):
            raise RuntimeError(f"bench process {rank} failed: {sent}")
        records += sent
    return records


@dataclass(frozen=True)
class _Job:
    """What one process of a variant needs: the backends' variables, the requests, how many
    workers, the store's address (None: no store) and the hard bound."""

    env: dict[str, str] = field(repr=False)
    """The emulator's ``AOAI_*`` variables; they hold its keys."""
    prompts: tuple[str, ...]
    workers: int
    deadline: float
    options: Options
    store_url: str | None
    rank: int = 0


def _child(
    job: _Job,
    taken: Synchronized[int],
    ready: Semaphore,
    go: Event,
    results: multiprocessing.Queue[tuple[int, list[RequestRecord] | str]],
) -> None:
    """A spawned process's whole life: build, say it is `ready`, wait for `go`, run, send
    the records back (or what went wrong: the parent is waiting for one or the other)."""
    try:
        records = _serve(job, taken, ready, go)
    except BaseException as error:
        results.put((job.rank, f"{type(error).__name__}: {error}"))
        raise
    results.put((job.rank, records))


def _serve(
    job: _Job, taken: Synchronized[int], ready: Semaphore, go: Event
) -> list[RequestRecord]:
    """Build this process's balancer (with its own store, if any), wait until every process
    is ready, and run its workers on the shared requests."""
    from aoai_fallbacks._cli.bench.approaches import balancer_asker
    from aoai_fallbacks._cli.bench.closed import drive_closed
    from aoai_fallbacks._cli.bench.engine import run_closing
    from aoai_fallbacks.config import load_backends

    # the store is the variant's to choose: never one named by AOAI_REDIS_URL (or .env)
    os.environ["AOAI_REDIS_URL"] = ""
    backends = load_backends(job.env, dotenv=False)
    store = None
    if job.store_url is not None:
        from aoai_fallbacks import RedisStore

        store = RedisStore(job.store_url)
    try:
        asker = balancer_asker(backends, job.options, store=store)
        requests = _Shared(job.prompts, taken)
        records: list[RequestRecord] = []
        ready.release()
        if not go.wait(STARTUP):
            raise RuntimeError("never told to start")
        work = drive_closed(
            asker, requests, workers=job.workers, deadline=job.deadline, records=records
        )
        run_closing(asker, work)
    finally:
        if store is not None:
            store.close()
    return [dataclasses.replace(r, index=requests.taken[r.index]) for r in records]


class _Shared(Sequence[str]):
    """The loop's requests as one process sees them: iterating takes the next request no
    process has taken yet, from the counter they share.

    `drive_closed` numbers what it iterates from 0 in the order taken;
    `taken[k]` is the k-th one's index among all the requests.
    """

    def __init__(self, prompts: Sequence[str], counter: Synchronized[int]) -> None:
        self._prompts = prompts
        self._counter = counter
        self.taken: list[int] = []

    def __len__(self) -> int:
        return len(self._prompts)

    def __getitem__(self, index: Any) -> Any:
        return self._prompts[index]

    def __iter__(self) -> Iterator[str]:
        while True:
            with self._counter.get_lock():
                index = self._counter.value
                if index >= len(self._prompts):
                    return
                self._counter.value = index + 1
            self.taken.append(index)
            yield self._prompts[index]
