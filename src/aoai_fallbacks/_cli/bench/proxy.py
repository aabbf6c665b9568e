"""The proxy's benchmark (`--workload proxy`): what `aoai-fallbacks serve` adds to a request,
and whether the capacity behind it is the in-process balancer's.

**The hop** (`measure_hop`). One emulated resource that answers at once, with quotas it
never reaches (``aoai-fallbacks emulate``, in its own process), and the proxy as a user
runs it: ``python -m aoai_fallbacks serve --workers 1`` in another, at its default log
level (its access log is written, to a file), configured by the environment to point at
the emulator. The load comes from this process, with async httpx. Each has a process of
its own: in one process the emulator's thread and the load's would take turns at one
interpreter lock, and the load measured would be that contention.
Three measures, each sending the same small chat completion (temperature 0):

* *Added latency*: one client sends it alternately to the emulator and through the
  proxy, `sequential` times each; the proxy's p50 and p99 less the direct ones.
* *Throughput*: `concurrency` tasks send `requests` requests, each its next as soon as
  its last was answered, directly and then through the proxy: answers per second, and
  the CPU each process spent meanwhile, as a share of one core. The proxy is one worker,
  one process: near 100% it is the bound. This process (the load generator) or the
  emulator near 100% means the load, not the proxy, was the bound, and the figure is a
  floor. The proxy's CPU per request says what one worker relays on a core of its own.
* *Streams*: `streams` streamed completions at once through the proxy, each compared
  chunk by chunk with the same request streamed directly to the emulator (at
  temperature 0 the emulator's answer is fixed by the prompt; each chunk's ``id`` and
  ``created`` aside): started, ended with ``[DONE]``, lost, chunks duplicated, missing
  or out of order.

**Capacity** (`compare_capacity`). The closed loop (`closed.run_closed`) on each dialect,
through the in-process balancer (the ``balancer`` approach) and through `PROXIED`: a
`Proxy` over a balancer built as the ``balancer`` approach builds its own, served on a
loopback port by `ServerThread` in this process, asked by a plain
`openai.AsyncAzureOpenAI` with ``max_retries=0``. The proxy runs in process, not as
``serve``, so that the comparison differs only by the hop: the same balancer settings
(no store, whatever the environment says; the same per-attempt timeout) and the same
process sharing its CPU with the emulator and the clients; at a few requests per second
the CPU is not what either run is measuring.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aoai_fallbacks._cli.bench.approaches import Approach, Options, by_name
from aoai_fallbacks._cli.bench.closed import (
    ClosedSetup,
    full_closed_setup,
    quick_closed_setup,
    run_closed,
)
from aoai_fallbacks._cli.bench.dialects import DIALECTS
from aoai_fallbacks._cli.bench.metrics import ClosedMetrics, percentiles
from aoai_fallbacks._cli.bench.report import (
    Target,
    _closed_setup,
    _errors,
    _per_answer,
    _ratio,
    _s,
    _verdict,
)
from aoai_fallbacks._cli.bench.scenarios import DEPLOYMENT
from aoai_fallbacks._cli.bench.workload import prompts

if TYPE_CHECKING:
    from aoai_fallbacks._cli.bench.dialects import Dialect
    from aoai_fallbacks._http import httpx
    from aoai_fallbacks.config import Backend

__all__ = [
    "PROXIED",
    "PROXY_TARGETS",
    "Hop",
    "ProxyRun",
    "ProxySetup",
    "Streams",
    "Throughput",
    "compare_capacity",
    "full_proxy_setup",
    "measure_hop",
    "proxy_markdown",
    "proxy_targets",
    "quick_proxy_setup",
    "run_proxy",
]

API_VERSION = "2024-06-01"
STARTUP = 120.0
"""Seconds the proxy process may take to answer ``/healthz`` (imports on a busy machine)."""
_TIMEOUT = 120.0
"""Seconds any one request of the hop's measures may take before it counts as an error."""


@dataclass(frozen=True)
class ProxySetup:
    """Everything a proxy benchmark run needs to be reproduced."""

    closed: ClosedSetup
    """The capacity comparison's closed loop."""
    sequential: int = 2_000
    """Requests each way (direct, proxied) for the added latency."""
    warmup: int = 50
    """Requests each way sent first and not counted: connections open, code paths warm."""
    requests: int = 10_000
    """Requests each way for the throughput."""
    concurrency: int = 64
    streams: int = 500
    max_tokens: int = 16
    seed: int = 7

    def __post_init__(self) -> None:
        if min(self.sequential, self.requests, self.concurrency, self.streams) < 1:
            raise ValueError("every measure of the hop needs at least one request")


def full_proxy_setup(requests: int | None = None) -> ProxySetup:
    """The published run: 2,000 requests each way for the latency, 10,000 for the
    throughput, 500 streams, and the closed loop's stand-in (`requests` per dialect)."""
    return ProxySetup(closed=full_closed_setup(requests))


def quick_proxy_setup(requests: int | None = None) -> ProxySetup:
    """CI's smoke test: 200 requests each way, 100 streams, the quick closed loop."""
    return ProxySetup(
        closed=quick_closed_setup(requests),
        sequential=200,
        warmup=10,
        requests=200,
        concurrency=16,
        streams=100,
    )


@dataclass(frozen=True)
class Throughput:
    """`requests` sent by `concurrency` tasks, each its next as soon as its last ended."""

    target: str
    requests: int
    errors: int
    seconds: float
    p50: float | None
    p99: float | None
    generator_cpu: float
    """CPU this process (the load generator) spent, as a share of one core."""
    emulator_cpu: float | None
    """CPU the emulator process spent, as a share of one core (None: unreadable)."""
    proxy_cpu: float | None
    """CPU the proxy process spent, as a share of one core (None: direct, or unreadable)."""

    @property
    def rate(self) -> float:
        """Answers per second."""
        return (self.requests - self.errors) / self.seconds if self.seconds else 0.0

    @property
    def proxy_cpu_per_request(self) -> float | None:
        """CPU seconds the proxy spent per request: 1 / this is what one worker can relay
        per second with a core of its own, whatever the load generator manages."""
        if self.proxy_cpu is None or not self.requests:
            return None
        return self.proxy_cpu * self.seconds / self.requests


@dataclass(frozen=True)
class Streams:
    """Streams sent at once through the proxy, compared with the emulator's own stream."""

    asked: int
    expected_chunks: int
    """Data events (``[DONE]`` aside) the emulator sends for the request."""
    started: int
    """Answered 200 with their headers."""
    completed: int
    """Ended with ``data: [DONE]``."""
    duplicated: int
    """Chunks received more often than the emulator sends them, over every stream."""
    missing: int
    """Chunks the emulator sends that a stream did not receive, over every stream."""
    reordered: int
    """Streams with every chunk, but not in the emulator's order."""
    errors: tuple[tuple[str, int], ...]

    @property
    def lost(self) -> int:
        """Streams asked that did not end with ``[DONE]``."""
        return self.asked - self.completed


@dataclass(frozen=True)
class Hop:
    """What the proxy adds: sequential latencies each way, throughput each way, streams."""

    direct: tuple[float, ...]
    proxied: tuple[float, ...]
    direct_throughput: Throughput
    proxied_throughput: Throughput
    streams: Streams
    load: tuple[float, float, float]
    """The machine's load average (1, 5, 15 min) when the measures ended."""

    def sequential(self) -> dict[str, dict[str, float | int | None]]:
        """p50 and p99 of the sequential latencies, in seconds: direct, proxied, added."""
        direct, proxied = percentiles(sorted(self.direct)), percentiles(sorted(self.proxied))
        added = self.added()
        return {
            "direct": {"p50": direct[0], "p99": direct[2], "answered": len(self.direct)},
            "proxy": {"p50": proxied[0], "p99": proxied[2], "answered": len(self.proxied)},
            "added": {"p50": added[0], "p99": added[1]},
        }

    def added(self) -> tuple[float | None, float | None]:
        """The proxy's p50 and p99 less the direct ones, in seconds."""
        d50, _, d99 = percentiles(sorted(self.direct))
        p50, _, p99 = percentiles(sorted(self.proxied))
        if d50 is None or d99 is None or p50 is None or p99 is None:
            return None, None
        return p50 - d50, p99 - d99


@dataclass(frozen=True)
class ProxyRun:
    """The hop, and the closed loop in process and through the proxy, dialect by dialect."""

    hop: Hop
    capacity: tuple[tuple[ClosedMetrics, ClosedMetrics], ...]
    """(in process, through the proxy) per dialect."""


def run_proxy(setup: ProxySetup, dialects: Sequence[Dialect]) -> ProxyRun:
    """Measure the hop, then compare the capacity on every one of `dialects`."""
    print("measuring the proxy's hop against an instant emulator ...", flush=True)
    hop = measure_hop(setup)
    return ProxyRun(hop, tuple(compare_capacity(setup.closed, dialects)))


def compare_capacity(
    setup: ClosedSetup, dialects: Sequence[Dialect]
) -> Iterator[tuple[ClosedMetrics, ClosedMetrics]]:
    """The closed loop on each dialect, in process and through the proxy."""
    for dialect in dialects:
        pair = []
        for approach in (by_name("balancer"), PROXIED):
            print(f"running {approach.name} in a closed loop on {dialect.name} ...", flush=True)
            pair.append(run_closed(setup, dialect, approach))
        yield pair[0], pair[1]


# -- the capacity comparison's approach ----------------------------------------------------


class _Proxied:
    """A plain `AsyncAzureOpenAI` (no retries) asking a `Proxy` served in this process, over
    a balancer built as `approaches.balancer_asker` builds its own."""

    def __init__(self, backends: Sequence[Backend], options: Options) -> None:
        import openai

        from aoai_fallbacks.balancer import Balancer
        from aoai_fallbacks.emulator._server import HOST, ServerThread, bind
        from aoai_fallbacks.proxy import Proxy, ProxySettings

        key = secrets.token_urlsafe(24)
        balancer = Balancer(backends, attempt_timeout=options.attempt_timeout, store=None)
        self._proxy = Proxy(balancer, ProxySettings(keys=(key,)))
        self._closing: asyncio.Task[None] | None = None
        sock = bind(0)
        self._server = ServerThread([self._proxy], [sock], on_stop=self._close_proxy)
        self._server.start()
        self._options = options
        self._client = openai.AsyncAzureOpenAI(
            azure_endpoint=f"http://{HOST}:{sock.getsockname()[1]}",
            api_key=key,
            api_version=backends[0].api_version,
            max_retries=0,
        )

    def _close_proxy(self) -> None:
        """On the server's loop, as it stops (its lifespan is off): close the backends' pool."""
        self._closing = asyncio.get_running_loop().create_task(self._proxy.aclose())

    async def ask(self, prompt: str) -> str | None:
        raw = await self._client.chat.completions.with_raw_response.create(
            model=DEPLOYMENT,
            messages=[{"role": "user", "content": prompt}],
            max_tokens=self._options.max_tokens,
        )
        from aoai_fallbacks.transport import BACKEND_HEADER

        return raw.headers.get(BACKEND_HEADER)

    async def aclose(self) -> None:
        await self._client.close()
        await asyncio.to_thread(self._server.stop)


PROXIED = Approach(
    "proxy",
    "openai SDK (max_retries=0) through the proxy, served in process",
    _Proxied,
)


# -- the hop ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    """Where one side of the hop's measures sends: the emulator itself or the proxy."""

    name: str
    base: str
    key: str

    def url(self) -> str:
        return f"{self.base}/openai/deployments/{DEPLOYMENT}/chat/completions"


def measure_hop(setup: ProxySetup) -> Hop:
    """Serve an instant emulator and a proxy in front of it, each in its own process, and
    measure the hop from this one."""
    never = str(10**9)  # tokens and requests per minute no run comes near
    key = secrets.token_urlsafe(24)
    emulate = ["emulate", "--resources", "1", "--deployment", DEPLOYMENT, "--tpm", never]
    emulate += ["--rpm", never, "--key", key, "--seed", str(setup.seed)]
    stats = f"/emulator/deployments/{DEPLOYMENT}/stats"
    with _process("emulator", emulate, "--port", {}, stats, key) as (direct, emulator):
        env = {
            "AOAI_ENDPOINT_01": direct.base,
            "AOAI_KEY_01": key,
            "AOAI_DEPLOYMENT": DEPLOYMENT,
            "AOAI_PROXY_KEYS": (proxy_key := secrets.token_urlsafe(24)),
            "AOAI_REDIS_URL": "",
        }
        serve = ["serve", "--workers", "1", "--grace", "1"]
        with _process("proxy", serve, "--port", env, "/healthz", proxy_key) as (proxied, pid):
            return asyncio.run(_measure(setup, direct, proxied, (emulator, pid)))


@contextmanager
def _process(
    name: str, arguments: list[str], port_flag: str, env: dict[str, str], health: str, key: str
) -> Iterator[tuple[_Target, int]]:
    """``python -m aoai_fallbacks ARGUMENTS`` on a free port, with the ``AOAI_*`` variables of
    `env` only, until the block ends; yields where it listens (as `name`, asked with `key`)
    and its process id, once `health` answers 200.

    It runs in an empty directory with no other ``AOAI_*`` variable, so no ``.env`` and no
    Redis of the user's is read; its output goes to a file, shown if it fails to start.
    """
    from aoai_fallbacks.emulator._server import HOST, bind

    sock = bind(0)
    port = sock.getsockname()[1]
    sock.close()  # the process binds it again; the kernel does not hand it out meanwhile
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AOAI_")}
    environ.update(env)
    command = [sys.executable, "-m", "aoai_fallbacks", *arguments, port_flag, str(port)]
    with tempfile.TemporaryDirectory(prefix=f"aoai-bench-{name}-") as directory:
        log = Path(directory) / "output.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                command, cwd=directory, env=environ, stdout=output, stderr=subprocess.STDOUT
            )
        try:
            target = _Target(name, f"http://{HOST}:{port}", key)
            _await_healthy(process, target, health, log)
            yield target, process.pid
        finally:
            process.terminate()
            try:
                process.wait(10.0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _await_healthy(
    process: subprocess.Popen[bytes], target: _Target, health: str, log: Path
) -> None:
    """Return once `target` answers 200 at `health`; RuntimeError, with the end of its `log`,
    if it exits first or takes longer than `STARTUP`."""
    from aoai_fallbacks._http import httpx

    end = time.monotonic() + STARTUP
    while True:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(
                f"the {target.name} exited with status {process.returncode}:\n{tail}"
            )
        try:
            answer = httpx.get(target.base + health, headers={"api-key": target.key}, timeout=1.0)
            if answer.status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > end:
            raise RuntimeError(f"the {target.name} did not answer {health} within {STARTUP:g} s")
        time.sleep(0.1)


def _body(setup: ProxySetup, *, stream: bool = False) -> bytes:
    prompt = prompts(1, seed=setup.seed)[0]
    document: dict[str, Any] = {
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": setup.max_tokens,
        "temperature": 0,
    }
    if stream:
        document["stream"] = True
    return json.dumps(document).encode()


async def _measure(
    setup: ProxySetup, direct: _Target, proxied: _Target, pids: tuple[int, int]
) -> Hop:
    """The hop's three measures; `pids`: the emulator's and the proxy's processes."""
    async with _client(setup.concurrency) as client:
        body = _body(setup)
        for _ in range(setup.warmup):
            for target in (direct, proxied):
                await _post(client, target, body)
        print(f"  {setup.sequential} sequential requests each way, interleaved ...", flush=True)
        latencies: dict[str, list[float]] = {direct.name: [], proxied.name: []}
        for index in range(setup.sequential):
            pair = (direct, proxied) if index % 2 else (proxied, direct)
            for target in pair:
                started = time.perf_counter()
                status = await _post(client, target, body)
                if status == 200:
                    latencies[target.name].append(time.perf_counter() - started)
        rates = []
        for target in (direct, proxied):
            print(
                f"  {setup.requests} requests to the {target.name}, {setup.concurrency} at once ...",
                flush=True,
            )
            rates.append(
                await _throughput(
                    client, target, body, setup, (pids[0], None if target is direct else pids[1])
                )
            )
    print(f"  {setup.streams} streams through the proxy at once ...", flush=True)
    streams = await _streams(setup, direct, proxied)
    return Hop(
        tuple(latencies[direct.name]),
        tuple(latencies[proxied.name]),
        rates[0],
        rates[1],
        streams,
        os.getloadavg(),
    )


@asynccontextmanager
async def _client(connections: int) -> AsyncIterator[httpx.AsyncClient]:
    from aoai_fallbacks._http import httpx

    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=_TIMEOUT) as client:
        yield client


async def _post(client: httpx.AsyncClient, target: _Target, body: bytes) -> int:
    """Send `body` to `target`: the status, or 0 when no answer came."""
    from aoai_fallbacks._http import httpx

    headers = {"api-key": target.key, "content-type": "application/json"}
    params = {"api-version": API_VERSION}
    try:
        response = await client.post(target.url(), content=body, headers=headers, params=params)
    except httpx.HTTPError:
        return 0
    return response.status_code


def _cpu_seconds(pid: int | None) -> float | None:
    """CPU seconds process `pid` has spent (Linux's /proc), or None where it cannot be read."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _throughput(
    client: httpx.AsyncClient,
    target: _Target,
    body: bytes,
    setup: ProxySetup,
    pids: tuple[int, int | None],
) -> Throughput:
    """`setup.requests` requests to `target`, and the CPU this process and the processes
    `pids` (the emulator's, the proxy's or None) spent meanwhile."""
    queue = iter(range(setup.requests))
    latencies: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        for _ in queue:
            sent = time.perf_counter()
            if await _post(client, target, body) == 200:
                latencies.append(time.perf_counter() - sent)
            else:
                errors += 1

    mine, before = time.process_time(), [_cpu_seconds(pid) for pid in pids]
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(setup.concurrency)))
    seconds = time.perf_counter() - started
    after = [_cpu_seconds(pid) for pid in pids]
    emulator, proxy = (
        None if b is None or a is None else (a - b) / seconds
        for b, a in zip(before, after, strict=True)
    )
    p50, _, p99 = percentiles(sorted(latencies))
    return Throughput(
        target=target.name,
        requests=setup.requests,
        errors=errors,
        seconds=seconds,
        p50=p50,
        p99=p99,
        generator_cpu=(time.process_time() - mine) / seconds,
        emulator_cpu=emulator,
        proxy_cpu=proxy,
    )


async def _stream(client: httpx.AsyncClient, target: _Target, body: bytes) -> _Streamed:
    """One streamed completion, as far as it got."""
    from aoai_fallbacks._http import httpx

    headers = {"api-key": target.key, "content-type": "application/json"}
    params = {"api-version": API_VERSION}
    got = _Streamed()
    try:
        async with client.stream(
            "POST", target.url(), content=body, headers=headers, params=params
        ) as response:
            got.status = response.status_code
            if response.status_code != 200:
                await response.aread()
                return got
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[len("data:") :].strip()
                if data == "[DONE]":
                    got.done = True
                    return got
                chunk = json.loads(data)
                chunk.pop("id", None)
                chunk.pop("created", None)
                got.chunks.append(json.dumps(chunk, sort_keys=True))
    except httpx.HTTPError as error:
        got.error = type(error).__name__
    return got


@dataclass
class _Streamed:
    """How far one stream got: its status (0: none came), its data events (each chunk
    without its ``id`` and ``created``, as canonical JSON), whether ``[DONE]`` came, and
    the error that ended it early, if one did."""

    status: int = 0
    chunks: list[str] = field(default_factory=list)
    done: bool = False
    error: str | None = None


async def _streams(setup: ProxySetup, direct: _Target, proxied: _Target) -> Streams:
    body = _body(setup, stream=True)
    async with _client(setup.streams) as client:
        reference = await _stream(client, direct, body)
        if not reference.done:
            raise RuntimeError(f"the emulator's own stream failed (status {reference.status})")
        outcomes = await asyncio.gather(
            *(_stream(client, proxied, body) for _ in range(setup.streams))
        )
    return _tally(reference.chunks, outcomes)


def _tally(expected: Sequence[str], outcomes: Sequence[_Streamed]) -> Streams:
    """What `outcomes` amount to, each compared with the `expected` chunks."""
    wanted = Counter(expected)
    started = completed = duplicated = missing = reordered = 0
    errors: Counter[str] = Counter()
    for outcome in outcomes:
        if outcome.error is not None:
            errors[outcome.error] += 1
        if outcome.status != 200:
            if outcome.error is None:
                errors[f"HTTP {outcome.status}"] += 1
            continue
        started += 1
        completed += outcome.done
        got = Counter(outcome.chunks)
        duplicated += (got - wanted).total()
        missing += (wanted - got).total()
        reordered += got == wanted and outcome.chunks != list(expected)
    return Streams(
        asked=len(outcomes),
        expected_chunks=len(expected),
        started=started,
        completed=completed,
        duplicated=duplicated,
        missing=missing,
        reordered=reordered,
        errors=tuple(sorted(errors.items())),
    )


# -- the report ------------------------------------------------------------------------------

PROXY_TARGETS = (
    "throughput through the proxy, 1 worker: >= 1,000 requests/s",
    "streams at once: none lost, no chunk duplicated, missing or out of order",
    "capacity behind the proxy: used within 1 point of in process, no more errors",
)
"""Issue 13's targets for the proxy (the last one per dialect; with a neighbour, as in the
closed loop, only its errors are judged: how much of the rest a loop gets depends on when
the neighbour's requests happen to come)."""


def proxy_targets(run: ProxyRun) -> list[Target]:
    """`PROXY_TARGETS`, measured from `run`, in that order, the last once per dialect."""
    rate = run.hop.proxied_throughput.rate
    s = run.hop.streams
    found = [
        Target(
            PROXY_TARGETS[0],
            f"{rate:,.0f} requests/s (a core of its own: {_ceiling(run.hop.proxied_throughput)})",
            rate >= 1_000,
        ),
        Target(
            PROXY_TARGETS[1],
            f"{s.asked} asked: {s.lost} lost, {s.duplicated} duplicated, {s.missing} missing, "
            f"{s.reordered} out of order",
            (s.lost, s.duplicated, s.missing, s.reordered) == (0, 0, 0, 0),
        ),
    ]
    neighbours = {d.name for d in DIALECTS if d.neighbour}
    for local, proxied in run.capacity:
        mine, theirs = local.run, proxied.run
        errors = f"{theirs.errors} vs {mine.errors} errors"
        used = f"{theirs.capacity_used:.1%} vs {mine.capacity_used:.1%}"
        if mine.scenario in neighbours:  # as in the closed loop: only the errors are judged
            measured, met = f"{used} (not a target), {errors}", theirs.errors <= mine.errors
        else:
            measured = f"{used}, {errors}"
            met = (
                theirs.capacity_used >= mine.capacity_used - 0.01 and theirs.errors <= mine.errors
            )
        found.append(Target(f"{PROXY_TARGETS[2]} ({mine.scenario})", measured, met))
    return found


def proxy_markdown(setup: ProxySetup, run: ProxyRun) -> str:
    """The proxy's results: the hop, the capacity comparison per dialect and the targets."""
    hop, s = run.hop, run.hop.streams
    d, p = hop.direct_throughput, hop.proxied_throughput
    d50, _, d99 = percentiles(sorted(hop.direct))
    p50, _, p99 = percentiles(sorted(hop.proxied))
    a50, a99 = hop.added()
    lines = [
        "## The proxy: what the hop adds, and the capacity behind it",
        "",
        "### The hop",
        "",
        "One emulated resource answering at once (no latency, quotas never reached), "
        "`aoai-fallbacks emulate` in its own process; `python -m aoai_fallbacks serve "
        "--workers 1` in another, at its default log level (access log written to a file), "
        "pointed at it; the load from the bench process (async httpx). The same chat "
        f"completion (max_tokens {setup.max_tokens}, temperature 0) every time. *Sequential*: "
        f"one client, {setup.sequential} requests each way after {setup.warmup} of warm-up, "
        "direct and proxied alternately; *added* = proxied less direct, percentile by "
        f"percentile. *Throughput*: {setup.requests} requests each way, {setup.concurrency} "
        "at once, each task sending its next as soon as its last was answered; *CPU* = CPU "
        "seconds spent / wall seconds (1.00 = one core busy): the proxy is bound near 1.00, "
        "the load generator or the emulator is when it is near 1.00 instead. Load average "
        "when the hop ended: " + ", ".join(f"{x:.2f}" for x in hop.load) + ".",
        "",
        "| measure | direct | through the proxy | added |",
        "|---|---|---|---|",
        f"| sequential p50 (ms) | {_ms2(d50)} | {_ms2(p50)} | {_ms2(a50)} |",
        f"| sequential p99 (ms) | {_ms2(d99)} | {_ms2(p99)} | {_ms2(a99)} |",
        f"| throughput (answers/s) | {d.rate:,.0f} | {p.rate:,.0f} | - |",
        f"| p50 / p99 under that load (ms) | {_ms2(d.p50)} / {_ms2(d.p99)} | "
        f"{_ms2(p.p50)} / {_ms2(p.p99)} | - |",
        f"| errors under that load | {d.errors} | {p.errors} | - |",
        f"| CPU, bench process (load) | {d.generator_cpu:.2f} | {p.generator_cpu:.2f} | - |",
        f"| CPU, emulator process | {_ratio(d.emulator_cpu)} | {_ratio(p.emulator_cpu)} | - |",
        f"| CPU, proxy process | - | {_ratio(p.proxy_cpu)} | - |",
        f"| proxy CPU per request (ms) | - | {_ms2(p.proxy_cpu_per_request)} | - |",
        f"| so one worker on a core of its own (answers/s) | - | {_ceiling(p)} | - |",
        "",
        f"Streams: {s.asked} streamed completions at once through the proxy, each compared "
        f"chunk by chunk with the emulator's own stream of the same request ({s.expected_chunks} "
        f"chunks before `[DONE]`, `id` and `created` aside): {s.started} started, "
        f"{s.completed} ended with `[DONE]`, **{s.lost} lost**; chunks duplicated "
        f"{s.duplicated}, missing {s.missing}; streams out of order {s.reordered}"
        + ("; errors " + ", ".join(f"{k} {n}" for k, n in s.errors) if s.errors else "; no error")
        + ".",
        "",
        "### Capacity behind the proxy",
        "",
        *_closed_setup(setup.closed, [m.run.scenario for m, _ in run.capacity]),
        "Paths: *in process*: the `balancer` approach (`balanced_chat_model`); *proxy*: a "
        "`Proxy` over a `Balancer` built alike (no store, the same per-attempt timeout), "
        "served in the bench process by uvicorn, asked by `openai.AsyncAzureOpenAI` with "
        "`max_retries=0`. Columns as in the closed loop; *429s / answer* = the emulator's "
        "429s / answers.",
        "",
        "| dialect | path | requests | answers | errors | 429s | 429s / answer "
        "| capacity used | p50 | p99 |",
        "|" + "---|" * 10,
    ]
    for pair in run.capacity:
        for path, m in zip(("in process", "proxy"), pair, strict=True):
            r = m.run
            lines.append(
                f"| {r.scenario} | {path} | {r.requests} | {r.answers} | {_errors(r)} | "
                f"{r.attempts.throttled} | {_ratio(_per_answer(r))} | {r.capacity_used:.1%} | "
                f"{_s(r.p50)} | {_s(r.p99)} |"
            )
    lines += [
        "",
        "### Targets (the proxy)",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
    ]
    for target in proxy_targets(run):
        lines.append(f"| {target.text} | {target.measured} | {_verdict(target.met)} |")
    return "\n".join(lines) + "\n"


def _ceiling(t: Throughput) -> str:
    cost = t.proxy_cpu_per_request
    return "-" if not cost else f"{1 / cost:,.0f}"


def _ms2(seconds: float | None) -> str:
    """Milliseconds to two decimals: the hop's figures are fractions of one."""
    return "-" if seconds is None else f"{seconds * 1000:.2f}"
