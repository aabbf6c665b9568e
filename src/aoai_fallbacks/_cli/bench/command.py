"""Run every approach through every scenario on the built-in emulator, side by side.

Approaches: a direct single deployment (openai SDK, default retries), the seed
recipe (fallback_chain), the smart balancer (balanced_chat_model), and, when
installed, openai-priority-loadbalancer and LiteLLM's Router. Open loop (the
default workload): 50%, 100% and 200% of the emulated resources' total
capacity as Poisson arrivals, and a fault scenario (one backend answering 503,
one hanging). Closed loop (--workload closed): 8 workers on 3 resources, on
each throttling dialect the emulator speaks. Processes (--workload processes):
the closed loop's workers as 1 process x 8 and as 4 spawned processes x 2, each
with its own balancer, alone or sharing through Redis (a redis-server of the
bench's own, killed and restarted mid-run in one variant); the balancer only.
Embeddings (--workload embeddings): each resource with a chat and an embedding
deployment, an ingestion job at twice the embedding quota beside chat at 70% of
its quota, through one balancer, on each dialect. Proxy (--workload proxy): what
`aoai-fallbacks serve` adds to a request against an instant emulator (latency,
throughput, streams), and the closed loop in process and through the proxy, on
each dialect. Each run gets a fresh emulator.

Prints markdown tables and writes them, with the raw metrics as JSON (each
entry's "workload" says which) and a PNG plot of the open loop, to --out.
--quick is the smoke test CI runs (under a minute, only the library's own
approaches; the closed loop through the balancer alone).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shlex
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aoai_fallbacks._cli.bench.approaches import Approach
    from aoai_fallbacks._cli.bench.closed import ClosedSetup
    from aoai_fallbacks._cli.bench.dialects import Dialect
    from aoai_fallbacks._cli.bench.embeddings import EmbeddingsRun, EmbeddingsSetup
    from aoai_fallbacks._cli.bench.engine import Run
    from aoai_fallbacks._cli.bench.metrics import ClosedMetrics, RunMetrics
    from aoai_fallbacks._cli.bench.overhead import Overhead
    from aoai_fallbacks._cli.bench.processes import ProcessesRun, ProcessesSetup
    from aoai_fallbacks._cli.bench.proxy import ProxySetup
    from aoai_fallbacks._cli.bench.scenarios import Setup

__all__ = ["add_arguments", "run"]

DEFAULT_OPTIONAL = ("priority-lb", "litellm")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2 s per scenario, own approaches only; closed loop: balancer only (CI)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("bench-results"),
        help="directory for results.md, results.json and results.png",
    )
    parser.add_argument(
        "--approaches",
        default=None,
        help="comma-separated subset, e.g. direct,recipe,balancer (default: all installed)",
    )
    parser.add_argument(
        "--workload",
        choices=("open", "closed", "processes", "embeddings", "proxy", "all"),
        default="open",
        help="open: Poisson arrivals per scenario (default); closed: N workers on every "
        "throttling dialect; processes: the closed loop in 1 and in 4 processes, with and "
        "without Redis; embeddings: embeddings at 200%% of their quota beside chat, one "
        "balancer, on every dialect; proxy: what aoai-fallbacks serve adds to a request, and "
        "the closed loop in process and through it, on every dialect; all: open and closed",
    )
    parser.add_argument(
        "--dialects",
        default=None,
        help="closed loop, processes, embeddings and proxy: comma-separated subset of ms,"
        "seconds,"
        "none,unknown,"
        "1s-window,neighbour (default: all)",
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=None,
        help="closed loop, processes and embeddings: requests per run (default 300, 180 "
        "for embeddings; 12 with --quick, 24 for processes and embeddings)",
    )
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG (open loop only)")


def machine() -> str:
    """Where the numbers were measured: cores, CPU model, OS and Python."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({model}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def run(args: argparse.Namespace) -> int:
    from aoai_fallbacks._cli.bench.closed import full_closed_setup, quick_closed_setup
    from aoai_fallbacks._cli.bench.dialects import parse_dialects
    from aoai_fallbacks._cli.bench.embeddings import (
        full_embeddings_setup,
        quick_embeddings_setup,
    )
    from aoai_fallbacks._cli.bench.processes import full_processes_setup, quick_processes_setup
    from aoai_fallbacks._cli.bench.proxy import full_proxy_setup, quick_proxy_setup
    from aoai_fallbacks._cli.bench.report import (
        closed_markdown,
        embeddings_markdown,
        header,
        markdown,
        plot,
        processes_markdown,
    )
    from aoai_fallbacks._cli.bench.scenarios import full_setup, quick_setup

    try:
        approaches = _approaches(args)
        dialects = parse_dialects(args.dialects)
        closed = (quick_closed_setup if args.quick else full_closed_setup)(args.requests)
        processes = (quick_processes_setup if args.quick else full_processes_setup)(args.requests)
        embeddings = (quick_embeddings_setup if args.quick else full_embeddings_setup)(
            args.requests
        )
        proxy = (quick_proxy_setup if args.quick else full_proxy_setup)(args.requests)
    except (KeyError, ValueError) as error:
        print(f"aoai-fallbacks bench: {error.args[0]}", file=sys.stderr)
        return 2
    command = ["aoai-fallbacks", "bench"]
    for flag, value in (
        ("--workload", None if args.workload == "open" else args.workload),
        ("--dialects", args.dialects),
        ("--requests", None if args.requests is None else str(args.requests)),
    ):
        if value is not None:
            command += [flag, value]
    command += (["--quick"] if args.quick else []) + (
        ["--approaches", args.approaches] if args.approaches else []
    )
    command += ["--out", str(args.out)]
    sections = [header(command=shlex.join(command), machine=machine())]
    entries: list[dict[str, object]] = []
    runs: list[Run] = []
    if args.workload in ("open", "all"):
        setup = quick_setup() if args.quick else full_setup()
        runs, overhead = _open_loop(setup, approaches, quick=args.quick)
        sections.append(markdown(setup, runs, overhead))
        entries += [{"workload": "open", **asdict(r.metrics)} for r in runs]
    if args.workload in ("closed", "all"):
        # unless told otherwise, the quick run proves each dialect through the balancer alone
        closed_approaches = (
            [a for a in approaches if a.name == "balancer"]
            if args.quick and not args.approaches
            else approaches
        )
        results = _closed_loop(closed, dialects, closed_approaches)
        sections.append(closed_markdown(closed, results))
        entries += [{"workload": "closed", **asdict(m)} for m in results]
    if args.workload == "processes":
        split = _processes(processes, dialects)
        sections.append(processes_markdown(processes, split))
        entries += [{"workload": "processes", **asdict(r)} for r in split]
    if args.workload == "embeddings":
        pools = _embeddings(embeddings, dialects)
        sections.append(embeddings_markdown(embeddings, pools))
        entries += [
            {
                "workload": "embeddings",
                **asdict(r),
                "crossed": {pool: r.crossed(pool) for pool in ("chat", "embeddings")},
                "unrecorded": r.unrecorded,
            }
            for r in pools
        ]
    if args.workload == "proxy":
        # unless told otherwise, the quick run compares the capacity on one dialect
        section, found = _proxy(
            proxy, dialects[:1] if args.quick and not args.dialects else dialects
        )
        sections.append(section)
        entries += found
    text = "\n".join(sections)
    print()
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text(text)
    (args.out / "results.json").write_text(json.dumps(entries, indent=1))
    plotted = bool(runs) and not args.no_plot
    if plotted:
        plot(runs, args.out / "results.png")
    print(f"wrote {args.out / 'results.md'}" + (" and results.png" if plotted else ""))
    return 0


def _approaches(args: argparse.Namespace) -> list[Approach]:
    """The approaches asked for (all by default; the library's own with --quick) that are
    installed; KeyError for an unknown name."""
    from aoai_fallbacks._cli.bench.approaches import APPROACHES, by_name

    if args.approaches:
        chosen = [by_name(name.strip()) for name in args.approaches.split(",")]
    elif args.quick:
        chosen = [a for a in APPROACHES if a.requires is None]
    else:
        chosen = list(APPROACHES)
    approaches = []
    for approach in chosen:
        if approach.available():
            approaches.append(approach)
        else:
            print(f"skipping {approach.name}: {approach.requires} is not installed", flush=True)
    return approaches


def _open_loop(
    setup: Setup, approaches: Sequence[Approach], *, quick: bool
) -> tuple[list[Run], Overhead]:
    """Every approach through every open-loop scenario, and the balancer's CPU cost."""
    from aoai_fallbacks._cli.bench.approaches import by_name
    from aoai_fallbacks._cli.bench.engine import run_one
    from aoai_fallbacks._cli.bench.overhead import measure_overhead
    from aoai_fallbacks._cli.bench.scenarios import BASELINE, Scenario

    baseline = Scenario(BASELINE, 0.5, setup.scenarios[0].duration)
    runs: list[Run] = []
    for scenario, approach in [(baseline, by_name("direct"))] + [
        (s, a) for s in setup.scenarios for a in approaches
    ]:
        print(f"running {approach.name} through {scenario.name} ...", flush=True)
        result = run_one(setup, scenario, approach)
        _progress(result.metrics)
        runs.append(result)
    print("measuring the balancer's CPU cost per request ...", flush=True)
    overhead = measure_overhead(200 if quick else 2_000, rounds=3 if quick else 5)
    return runs, overhead


def _closed_loop(
    setup: ClosedSetup, dialects: Sequence[Dialect], approaches: Sequence[Approach]
) -> list[ClosedMetrics]:
    """Every approach through the closed loop, dialect by dialect."""
    from aoai_fallbacks._cli.bench.closed import run_closed

    results = []
    for dialect in dialects:
        for approach in approaches:
            print(f"running {approach.name} in a closed loop on {dialect.name} ...", flush=True)
            result = run_closed(setup, dialect, approach)
            _progress(result.run)
            results.append(result)
    return results


def _processes(setup: ProcessesSetup, dialects: Sequence[Dialect]) -> list[ProcessesRun]:
    """Every way of running the workers (`ProcessesSetup.variants`) through the closed loop,
    dialect by dialect; the Redis variants only where redis-py and redis-server are installed."""
    from aoai_fallbacks._cli.bench.processes import redis_missing, run_processes
    from aoai_fallbacks._cli.bench.redis_server import RedisServer

    missing = redis_missing()
    if missing is not None:
        print(f"skipping the Redis variants: {missing}", flush=True)
    results = []
    with contextlib.ExitStack() as stack:
        redis = None if missing else stack.enter_context(RedisServer())
        for dialect in dialects:
            for variant in setup.variants():
                if variant.redis and redis is None:
                    continue
                print(f"running {variant.name} in a closed loop on {dialect.name} ...", flush=True)
                result = run_processes(setup, dialect, variant, redis if variant.redis else None)
                _progress(result.closed.run)
                results.append(result)
    return results


def _embeddings(setup: EmbeddingsSetup, dialects: Sequence[Dialect]) -> list[EmbeddingsRun]:
    """Embeddings beside chat through one balancer, dialect by dialect."""
    from aoai_fallbacks._cli.bench.embeddings import run_embeddings

    results = []
    for dialect in dialects:
        print(f"running embeddings beside chat on {dialect.name} ...", flush=True)
        result = run_embeddings(setup, dialect)
        for pool, m in (("embeddings", result.embeddings.run), ("chat", result.chat)):
            print(f"  {pool}:", end="")
            _progress(m)
        results.append(result)
    return results


def _proxy(setup: ProxySetup, dialects: Sequence[Dialect]) -> tuple[str, list[dict[str, object]]]:
    """The proxy's hop and the closed loop through it, dialect by dialect: the markdown and
    the JSON entries (the hop, then one per dialect)."""
    from aoai_fallbacks._cli.bench.proxy import proxy_markdown, run_proxy

    result = run_proxy(setup, dialects)
    hop = result.hop
    print(
        f"  {hop.proxied_throughput.rate:,.0f} answers/s through the proxy, "
        f"{hop.direct_throughput.rate:,.0f} direct; {hop.streams.completed}/"
        f"{hop.streams.asked} streams completed",
        flush=True,
    )
    for pair in result.capacity:
        for m in pair:
            _progress(m.run)
    entries: list[dict[str, object]] = [
        {
            "workload": "proxy",
            "measure": "hop",
            "sequential": hop.sequential(),
            "throughput": [asdict(hop.direct_throughput), asdict(hop.proxied_throughput)],
            "streams": asdict(hop.streams),
            "load": hop.load,
            "rates": {"direct": hop.direct_throughput.rate, "proxy": hop.proxied_throughput.rate},
            "proxy_cpu_per_request": hop.proxied_throughput.proxy_cpu_per_request,
            "lost": hop.streams.lost,
        }
    ]
    entries += [
        {
            "workload": "proxy",
            "measure": "capacity",
            "in_process": asdict(local),
            "proxy": asdict(proxied),
        }
        for local, proxied in result.capacity
    ]
    return proxy_markdown(setup, result), entries


def _progress(m: RunMetrics) -> None:
    print(
        f"  {m.answers}/{m.requests} answered, {m.errors} errors, "
        f"{m.attempts.throttled} 429s, {m.wasted} wasted attempts",
        flush=True,
    )
