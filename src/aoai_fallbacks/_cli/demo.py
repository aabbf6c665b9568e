"""See the balancer beat the seed recipe, live, on the built-in emulator: no Azure account needed.

Starts a local Azure OpenAI emulator (3 resources with tight quotas, plus a
larger tier), then sends the same stream of joke requests first through the
seed recipe (fallback_chain: try 01, on 429 try 02, ...) and then through the
smart balancer, each half of --duration, showing per backend what was served,
throttled, cooling down and the circuit state. Ends with a side-by-side
summary. Ctrl-C stops and prints the summary so far.

--live sends the same through your own configured backends (AOAI_* in the
environment or .env) after saying how many requests it will send.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aoai_fallbacks._cli.bench.approaches import Asker
    from aoai_fallbacks._cli.bench.metrics import Attempts, RequestRecord
    from aoai_fallbacks.balancer import Balancer
    from aoai_fallbacks.config import Backend
    from aoai_fallbacks.emulator import Emulator

__all__ = ["add_arguments", "run"]

BASE = "gpt-35-turbo"
LARGE = "gpt-4-32k"
RPM = 18
"""Each emulated base deployment admits 3 requests per 10 s: tight, so throttling shows at once."""
LARGE_RPM = 6
LOAD = 1.5
"""Requests offered as a share of the base tier's capacity: enough to make the recipe stumble."""
LATENCY = 0.3
MAX_TOKENS = 40
ATTEMPT_TIMEOUT = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--duration", type=float, default=30.0, help="seconds of requests, split over both phases"
    )
    parser.add_argument(
        "--live", action="store_true", help="use your configured backends instead of the emulator"
    )
    parser.add_argument("--yes", action="store_true", help="with --live: do not ask to confirm")
    parser.add_argument("--env-file", default=None, help="with --live: the .env file to read")
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="requests per second (default: 1.5x the capacity on the emulator, 1 with --live)",
    )


@dataclass
class Phase:
    """One approach's half of the demo, filled in while it runs (the view reads it)."""

    name: str
    records: list[RequestRecord] = field(default_factory=list)
    started: float = 0.0
    wall: float = 0.0
    balancer: Balancer | None = None
    attempts: Attempts | None = None
    done: bool = False


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from aoai_fallbacks.errors import ConfigError

    console = Console()
    if args.duration <= 0:
        console.print("aoai-fallbacks demo: --duration must be positive")
        return 2
    if args.live:
        from aoai_fallbacks.config import load_backends

        try:
            backends = load_backends(dotenv=args.env_file or True)
        except ConfigError as error:
            console.print(f"aoai-fallbacks demo: {error}", markup=False)
            return 2
        rate = args.rate or 1.0
        count = max(1, round(rate * args.duration / 2))
        console.print(
            f"--live: this sends {count} requests through the seed recipe and {count} through "
            f"the balancer ({2 * count} in all, up to {MAX_TOKENS} completion tokens each) to "
            f"your {len(backends)} configured backends.",
            markup=False,
        )
        if not args.yes and not _confirm(console):
            console.print("nothing sent")
            return 1
        return _demo(console, backends, None, rate, args.duration)

    from aoai_fallbacks.config import load_backends
    from aoai_fallbacks.emulator import DeploymentConfig, run_emulator

    deployments = (DeploymentConfig(BASE, rpm=RPM), DeploymentConfig(LARGE, rpm=LARGE_RPM))
    with run_emulator(3, deployments) as emulator:
        backends = load_backends(
            emulator.env(deployment=BASE, large_deployment=LARGE), dotenv=False
        )
        rate = args.rate or LOAD * 3 * RPM / 60
        console.print(
            f"Started the built-in Azure OpenAI emulator: 3 resources, {BASE} at {RPM} RPM each "
            f"and a larger tier {LARGE} at {LARGE_RPM} RPM. Sending {rate:.1f} jokes/s, "
            f"{args.duration / 2:g} s through each approach.",
            markup=False,
        )
        return _demo(console, backends, emulator, rate, args.duration)


def _confirm(console: Any) -> bool:
    if not sys.stdin.isatty():
        console.print("not a terminal: pass --yes to confirm")
        return False
    return input("Send them? [y/N] ").strip().lower() in ("y", "yes")


def _demo(
    console: Any,
    backends: Sequence[Backend],
    emulator: Emulator | None,
    rate: float,
    duration: float,
) -> int:
    from aoai_fallbacks._cli.bench.approaches import Options, by_name
    from aoai_fallbacks._cli.bench.workload import open_loop

    options = Options(max_tokens=MAX_TOKENS, attempt_timeout=ATTEMPT_TIMEOUT)
    arrivals = open_loop(rate, max(1, round(rate * duration / 2)), seed=1, poisson=False)
    phases = [Phase("recipe"), Phase("balancer")]
    interrupted = False
    try:
        for phase in phases:
            if emulator is not None:
                _fresh(emulator)
            asker = by_name(phase.name).build(backends, options)
            phase.balancer = getattr(asker, "balancer", None)
            _run_phase(console, phase, asker, arrivals, backends, emulator, duration / 2)
    except KeyboardInterrupt:
        interrupted = True
        console.print("interrupted: the summary so far")
    _summary(console, phases, len(arrivals))
    return 130 if interrupted else 0


def _fresh(emulator: Emulator) -> None:
    """Clear the emulator's counts and quotas so each phase starts alike, with model-like latency."""
    emulator.reset()
    for resource in emulator.resources:
        for deployment in (BASE, LARGE):
            resource.set_faults(deployment, latency=LATENCY)


def _run_phase(
    console: Any,
    phase: Phase,
    asker: Asker,
    arrivals: Sequence[Any],
    backends: Sequence[Backend],
    emulator: Emulator | None,
    duration: float,
) -> None:
    from aoai_fallbacks._cli.bench.engine import drive

    async def main() -> None:
        try:
            await drive(
                asker,
                arrivals,
                deadline=duration + ATTEMPT_TIMEOUT + 30.0,
                records=phase.records,
                sample=ticker,
            )
        finally:
            await asker.aclose()

    last_line = [0.0]

    def ticker(at: float) -> None:
        if not console.is_terminal and at - last_line[0] >= 1.0:
            last_line[0] = at
            console.print(_plain_line(phase, at, len(arrivals)), markup=False)

    phase.started = time.monotonic()
    try:
        if console.is_terminal:
            from rich.live import Live

            view = _view(phase, backends, emulator, len(arrivals))
            with Live(get_renderable=view, console=console, refresh_per_second=4):
                asyncio.run(main())
        else:
            console.print(f"-- {phase.name} --", markup=False)
            asyncio.run(main())
    finally:
        phase.wall = time.monotonic() - phase.started
        phase.attempts = _attempts(phase, emulator)
        phase.done = True


def _plain_line(phase: Phase, at: float, total: int) -> str:
    answered = sum(1 for r in phase.records if r.ok)
    return (
        f"{phase.name} {at:5.1f}s: {answered} answered, "
        f"{len(phase.records) - answered} errors, {total - len(phase.records)} pending"
    )


def _attempts(phase: Phase, emulator: Emulator | None) -> Attempts | None:
    """What the backends saw: from the emulator, else from the balancer's own counts."""
    from aoai_fallbacks._cli.bench.metrics import Attempts

    if emulator is not None:
        total = Attempts()
        for deployment in (BASE, LARGE):
            total += emulator.stats(deployment)
        return total
    if phase.balancer is not None:
        total = Attempts()
        for seen in phase.balancer.snapshot():
            requests = seen.served + seen.throttled + seen.failed + seen.rejected
            total += Attempts(
                requests=requests,
                served=seen.served,
                throttled=seen.throttled,
                failed=seen.failed,
                rejected=seen.rejected,
            )
        return total
    return None


def _view(
    phase: Phase, backends: Sequence[Backend], emulator: Emulator | None, total: int
) -> Callable[[], Any]:
    """A callable that renders the live table for `phase` from the latest numbers."""
    from rich.table import Table

    def render() -> Any:
        table = Table(title=_plain_line(phase, time.monotonic() - phase.started, total))
        for column in ("backend", "served", "throttled", "failed", "cooling down", "circuit"):
            table.add_column(column)
        status = {s.name: s for s in phase.balancer.snapshot()} if phase.balancer else {}
        for backend in backends:
            served = throttled = failed = "-"
            if emulator is not None:
                resource = next(r for r in emulator.resources if backend.endpoint == r.endpoint)
                s = resource.stats(backend.deployment)
                served, throttled, failed = str(s.served), str(s.throttled), str(s.failed)
            seen = status.get(backend.name)
            if seen is not None and emulator is None:
                served, throttled, failed = str(seen.served), str(seen.throttled), str(seen.failed)
            cooling = (
                f"{seen.cooldown_remaining:.1f} s" if seen and seen.cooldown_remaining else ""
            )
            circuit = str(getattr(seen.state, "value", seen.state)) if seen else "(no state)"
            table.add_row(backend.label, served, throttled, failed, cooling, circuit)
        return table

    return render


def _summary(console: Any, phases: Sequence[Phase], requests: int) -> None:
    from rich.table import Table

    from aoai_fallbacks._cli.bench.metrics import percentiles

    table = Table(title="recipe vs balancer, same requests")
    table.add_column("")
    for phase in phases:
        table.add_column(phase.name, justify="right")
    rows: dict[str, list[str]] = {
        "requests": [],
        "answers": [],
        "client-visible errors": [],
        "429s suffered": [],
        "wasted attempts / answer": [],
        "p50 latency (ms)": [],
        "p95 latency (ms)": [],
        "wall time (s)": [],
    }
    for phase in phases:
        answered = sorted(r.latency for r in phase.records if r.ok and r.latency is not None)
        p50, p95, _ = percentiles(answered)
        a = phase.attempts
        rows["requests"].append(str(len(phase.records)) if phase.started else "-")
        rows["answers"].append(str(len(answered)))
        rows["client-visible errors"].append(str(len(phase.records) - len(answered)))
        rows["429s suffered"].append("-" if a is None else str(a.throttled))
        rows["wasted attempts / answer"].append(
            "-" if a is None or not answered else f"{(a.requests - a.served) / len(answered):.2f}"
        )
        rows["p50 latency (ms)"].append("-" if p50 is None else f"{p50 * 1000:.0f}")
        rows["p95 latency (ms)"].append("-" if p95 is None else f"{p95 * 1000:.0f}")
        rows["wall time (s)"].append(f"{phase.wall:.1f}" if phase.started else "-")
    for label, values in rows.items():
        table.add_row(label, *values)
    if console.is_terminal:
        console.print(table)
    else:
        console.print("summary: " + ", ".join(p.name for p in phases), markup=False)
        for label, values in rows.items():
            console.print(f"{label}: " + " | ".join(values), markup=False)
