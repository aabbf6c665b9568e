"""Turn runs into what people read: a markdown table with the issue's targets, and one PNG.

The table puts every approach side by side per scenario; the targets section
states each of the balancer's targets with the measured number and whether it
was met, so a missed target is reported, not hidden. The plot shows answers
per second per backend over time at 200% load (who carried the load, and
whether anyone sat idle while others were throttled) and a latency CDF per
approach for each scenario.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aoai_fallbacks._bench.engine import Run
from aoai_fallbacks._bench.metrics import RunMetrics
from aoai_fallbacks._bench.overhead import Overhead
from aoai_fallbacks._bench.scenarios import BASELINE, Setup

__all__ = ["Target", "markdown", "plot", "targets"]

BALANCER = "balancer"


@dataclass(frozen=True)
class Target:
    """One of the issue's targets for the balancer, with the measured value."""

    text: str
    measured: str
    met: bool | None
    """None when the run that would measure it is missing."""


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


def _find(runs: Sequence[Run], scenario: str, approach: str) -> RunMetrics | None:
    for run in runs:
        if run.metrics.scenario == scenario and run.metrics.approach == approach:
            return run.metrics
    return None


def targets(runs: Sequence[Run], overhead: Overhead | None) -> list[Target]:
    """The issue's targets, each measured from `runs` and `overhead`."""
    found: list[Target] = []
    for load in ("50%", "100%"):
        m = _find(runs, load, BALANCER)
        found.append(
            Target(
                f"{load} load: zero client-visible errors",
                "-" if m is None else f"{m.errors} errors of {m.requests}",
                None if m is None else m.errors == 0,
            )
        )
    m = _find(runs, "200%", BALANCER)
    found.append(
        Target(
            "200% load: at least 95% of total capacity used",
            "-" if m is None else f"{m.capacity_used:.0%}",
            None if m is None else m.capacity_used >= 0.95,
        )
    )
    found.append(
        Target(
            "200% load: at most 1 wasted 429 per backend per Retry-After window",
            "-"
            if m is None
            else f"{m.throttled_per_cooldown:.2f} ({m.attempts.throttled_early} of "
            f"{m.attempts.throttled} 429s sent during a cooldown; "
            f"{m.throttled_per_window:.2f} per backend per 10 s quota window)",
            None if m is None else m.throttled_per_cooldown <= 1.0,
        )
    )
    found.append(
        Target(
            "200% load: overflow ends in an answer or NoBackendAvailableError, never a hang",
            "-" if m is None else f"{m.unfinished} cut at the deadline",
            None if m is None else m.unfinished == 0,
        )
    )
    m = _find(runs, "100%", BALANCER)
    base = _find(runs, BASELINE, "direct")
    text = "100% load: p95 latency at most 1.2x an unthrottled direct call's p95"
    if m is None or base is None or m.p95 is None or base.p95 is None:
        found.append(Target(text, "-", None))
    else:
        measured = f"{_ms(m.p95)} ms vs 1.2 x {_ms(base.p95)} ms"
        found.append(Target(text, measured, m.p95 <= 1.2 * base.p95))
    found.append(
        Target(
            "balancer CPU cost per request under 100 µs",
            "-" if overhead is None else f"{overhead.added_us:.0f} µs",
            None if overhead is None else overhead.added_us < 100,
        )
    )
    return found


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "**not met**", None: "not measured"}[met]


def markdown(
    setup: Setup, runs: Sequence[Run], overhead: Overhead | None, *, command: str, machine: str
) -> str:
    """The results as markdown: setup, one table per scenario, the overhead and the targets."""
    lines = [
        "# Benchmark results",
        "",
        f"Command: `{command}`  ",
        f"Machine: {machine}",
        "",
        f"Emulated: {setup.resources} resources x 1 deployment, {setup.rpm} RPM each "
        f"({setup.per_window()} requests per 10 s window; tokens not binding), "
        f"{setup.latency * 1000:.0f} ms per answer, max_tokens {setup.max_tokens}; "
        f"total capacity {setup.capacity:.1f} requests/s. Per-attempt timeout "
        f"{setup.attempt_timeout:g} s for every approach; hard bound: planned duration + "
        f"{setup.grace:g} s. Seeded Poisson arrivals (seed {setup.seed}).",
        "",
        "Columns: *errors* are client-visible (cut = still running at the bound); *429s* and "
        "*wasted* (429s, 5xx, timeouts: attempts not answered) are counted by the emulator; "
        "*capacity* = answers within the planned duration / requests the quotas admit in it; "
        "latency in ms from the scheduled arrival.",
        "",
    ]
    scenarios: list[str] = []
    for run in runs:
        if run.metrics.scenario not in scenarios:
            scenarios.append(run.metrics.scenario)
    descriptions = {s.name: s.description for s in setup.scenarios}
    descriptions[BASELINE] = "one direct client at half of one deployment's quota (reference)"
    header = (
        "| approach | requests | answers | errors | 429s | wasted / answer | capacity "
        "| p50 | p95 | p99 | last answer (s) |"
    )
    for scenario in scenarios:
        lines += [f"## {scenario}: {descriptions.get(scenario, '')}", "", header]
        lines.append("|" + "---|" * 11)
        for run in runs:
            m = run.metrics
            if m.scenario != scenario:
                continue
            errors = str(m.errors)
            if m.error_kinds:
                errors += " (" + ", ".join(f"{k} {n}" for k, n in m.error_kinds) + ")"
            wpa = "-" if m.wasted_per_answer is None else f"{m.wasted_per_answer:.2f}"
            lines.append(
                f"| {m.approach} | {m.requests} | {m.answers} | {errors} | "
                f"{m.attempts.throttled} | {wpa} | {m.capacity_used:.0%} | {_ms(m.p50)} | "
                f"{_ms(m.p95)} | {_ms(m.p99)} | {m.span:.1f} |"
            )
        lines.append("")
    if overhead is not None:
        lines += [
            "## CPU cost per request (in-process, no-op transport)",
            "",
            f"Direct SDK call {overhead.direct_us:.0f} µs; through the balancer "
            f"{overhead.balanced_us:.0f} µs: the balancer adds **{overhead.added_us:.0f} µs** "
            f"({overhead.ratio:.2f}x a direct call), median of {overhead.rounds} rounds of {overhead.calls} calls.",
            "",
        ]
    lines += ["## Targets (the balancer)", "", "| target | measured | verdict |", "|---|---|---|"]
    for target in targets(runs, overhead):
        lines.append(f"| {target.text} | {target.measured} | {_verdict(target.met)} |")
    return "\n".join(lines) + "\n"


def plot(runs: Sequence[Run], path: Path, *, timeline_scenario: str = "200%") -> None:
    """Write the PNG: answers/s per backend over time, then latency CDFs per scenario."""
    from matplotlib.figure import Figure

    timeline_runs = [r for r in runs if r.metrics.scenario == timeline_scenario]
    scenarios: list[str] = []
    for run in runs:
        if run.metrics.scenario not in scenarios and run.metrics.scenario != BASELINE:
            scenarios.append(run.metrics.scenario)
    columns = max(len(timeline_runs), len(scenarios), 1)
    figure = Figure(figsize=(4 * columns, 7.5), layout="constrained")
    grid = figure.add_gridspec(2, 1)
    top, bottom = figure.add_subfigure(grid[0]), figure.add_subfigure(grid[1])
    top.suptitle(f"Answers per second per backend over time, {timeline_scenario} load")
    top_axes = top.subplots(1, columns, squeeze=False)[0]
    bottom_axes = bottom.subplots(1, columns, squeeze=False)[0]
    for unused in [*top_axes[len(timeline_runs) :], *bottom_axes[len(scenarios) :]]:
        unused.set_visible(False)
    for axes, run in zip(top_axes, timeline_runs, strict=False):
        for index, name in enumerate(run.backend_names):
            times, rates = _rates(run, index)
            axes.plot(times, rates, label=f"backend {name}")
        axes.set_title(run.metrics.approach)
        axes.set_xlabel("s")
        axes.set_ylabel("answers/s")
        axes.legend(fontsize="small")
    bottom.suptitle("Latency CDF per approach (answered requests)")
    for axes, scenario in zip(bottom_axes, scenarios, strict=False):
        for run in runs:
            if run.metrics.scenario != scenario:
                continue
            latencies = sorted(
                r.latency * 1000 for r in run.records if r.ok and r.latency is not None
            )
            if latencies:
                shares = [(i + 1) / len(latencies) for i in range(len(latencies))]
                axes.step(latencies, shares, where="post", label=run.metrics.approach)
        axes.set_title(f"{scenario} load")
        axes.set_xlabel("latency (ms)")
        axes.set_ylabel("share answered")
        axes.legend(fontsize="small")
    figure.savefig(path, dpi=90)


def _rates(run: Run, index: int, *, over: float = 1.0) -> tuple[list[float], list[float]]:
    """Answers per second of backend `index`, each point over the preceding `over` seconds."""
    times: list[float] = []
    rates: list[float] = []
    samples = run.timeline
    start = 0
    for sample in samples:
        while samples[start].at < sample.at - over:
            start += 1
        earlier = samples[start]
        if sample.at > earlier.at:
            times.append(sample.at)
            rates.append((sample.served[index] - earlier.served[index]) / (sample.at - earlier.at))
    return times, rates
