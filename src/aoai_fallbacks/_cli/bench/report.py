"""Turn runs into what people read: markdown tables with the issue's targets, and one PNG.

The open-loop table puts every approach side by side per scenario; the
closed-loop table every approach per throttling dialect; the multi-process
table every way of running the closed loop's workers per dialect; the embeddings table
both pools per dialect. Each targets section
states the balancer's targets with the measured number and whether it was
met, so a missed target is reported, not hidden. The plot shows answers
per second per backend over time at 200% load (who carried the load, and
whether anyone sat idle while others were throttled) and a latency CDF per
approach for each scenario.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aoai_fallbacks._cli.bench.closed import ClosedSetup
from aoai_fallbacks._cli.bench.dialects import DIALECTS
from aoai_fallbacks._cli.bench.engine import Run
from aoai_fallbacks._cli.bench.metrics import ClosedMetrics, RunMetrics
from aoai_fallbacks._cli.bench.overhead import Overhead
from aoai_fallbacks._cli.bench.scenarios import BASELINE, Setup

if TYPE_CHECKING:
    from aoai_fallbacks._cli.bench.embeddings import EmbeddingsRun, EmbeddingsSetup
    from aoai_fallbacks._cli.bench.processes import ProcessesRun, ProcessesSetup

__all__ = [
    "CLOSED_TARGETS",
    "EMBEDDINGS_TARGETS",
    "PROCESSES_TARGETS",
    "Target",
    "closed_markdown",
    "closed_targets",
    "embeddings_markdown",
    "embeddings_targets",
    "header",
    "markdown",
    "plot",
    "processes_markdown",
    "processes_targets",
    "targets",
]

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


def header(*, command: str, machine: str) -> str:
    """The results' title: the command that produced them and the machine that ran it."""
    return "\n".join(
        ["# Benchmark results", "", f"Command: `{command}`  ", f"Machine: {machine}", ""]
    )


def markdown(setup: Setup, runs: Sequence[Run], overhead: Overhead | None) -> str:
    """The open-loop results: setup, one table per scenario, the overhead and the targets."""
    lines = [
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
    columns = (
        "| approach | requests | answers | errors | 429s | wasted / answer | capacity "
        "| p50 | p95 | p99 | last answer (s) |"
    )
    for scenario in scenarios:
        lines += [f"## {scenario}: {descriptions.get(scenario, '')}", "", columns]
        lines.append("|" + "---|" * 11)
        for run in runs:
            m = run.metrics
            if m.scenario != scenario:
                continue
            wpa = "-" if m.wasted_per_answer is None else f"{m.wasted_per_answer:.2f}"
            lines.append(
                f"| {m.approach} | {m.requests} | {m.answers} | {_errors(m)} | "
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


def _targets_head(title: str, columns: Sequence[str], note: str | None = None) -> list[str]:
    """A targets section's title, `note` if any, and the head of its table: one row per dialect."""
    return [
        "",
        f"## {title}",
        "",
        *([note, ""] if note else []),
        "| dialect | " + " | ".join(columns) + " |",
        "|" + "---|" * (len(columns) + 1),
    ]


def _cells(found: Sequence[Target]) -> list[str]:
    """A targets table's cells: each measured value, with its verdict when it is judged."""
    return [t.measured if t.met is None else f"{t.measured}: {_verdict(t.met)}" for t in found]


def _errors(m: RunMetrics) -> str:
    """The client-visible errors and their kinds: "3 (RateLimitError 2, unfinished 1)"."""
    if not m.error_kinds:
        return str(m.errors)
    return f"{m.errors} (" + ", ".join(f"{k} {n}" for k, n in m.error_kinds) + ")"


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f}"


CLOSED_TARGETS = (
    "capacity used >= 99%",
    "attempts per answer <= 1.05",
    "0 client-visible errors",
    "p95 <= 1.3x the fair bound",
    "max <= 2x p95",
)
"""The issue's closed-loop targets for the balancer, on every dialect."""

NEIGHBOUR_TARGETS = ("0 client-visible errors",)
"""With a neighbour spending part of the quota, only these are targets: how much of the
rest the loop can use depends on when the neighbour's requests happen to come."""


def closed_targets(m: ClosedMetrics, *, neighbour: bool = False) -> list[Target]:
    """`CLOSED_TARGETS`, measured from `m`, in that order; with a `neighbour`, those not in
    `NEIGHBOUR_TARGETS` are shown but not judged (met is None, measured says so)."""
    r = m.run
    per_answer = r.attempts_per_answer
    p95, slowest = r.p95, r.max_latency
    judged: list[tuple[str, bool | None]] = [
        (f"{r.capacity_used:.1%}", r.capacity_used >= 0.99),
        (_ratio(per_answer), None if per_answer is None else per_answer <= 1.05),
        (f"{r.errors} of {r.requests}", r.errors == 0),
        (
            f"{_s(p95)} s vs 1.3 x {_s(m.fair_bound)} s",
            None if p95 is None else p95 <= 1.3 * m.fair_bound,
        ),
        (
            f"{_s(slowest)} s vs 2 x {_s(p95)} s",
            None if slowest is None or p95 is None else slowest <= 2 * p95,
        ),
    ]
    found = []
    for text, (measured, met) in zip(CLOSED_TARGETS, judged, strict=True):
        if neighbour and text not in NEIGHBOUR_TARGETS:
            found.append(Target(text, f"{measured} (not a target)", None))
        else:
            found.append(Target(text, measured, met))
    return found


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _closed_setup(setup: ClosedSetup, names: Sequence[str]) -> list[str]:
    """The closed loop's shape, and the dialects `names` (runs' scenarios, repeats allowed)."""
    dialects = {d.name: d for d in DIALECTS}
    return [
        f"Emulated: {setup.resources} resources x 1 deployment, {setup.rpm} RPM each "
        f"({setup.rpm // 6} requests per 10 s window, or {setup.rpm // 60} per 1 s; tokens "
        f"not binding), {setup.latency * 1000:.0f} ms per answer, max_tokens "
        f"{setup.max_tokens}. {setup.workers} workers, each sending its next request as "
        f"soon as its last ended, until {setup.requests} requests have ended. Per-attempt "
        f"timeout {setup.attempt_timeout:g} s for every approach; hard bound: twice the "
        f"ideal run + {setup.grace:g} s."
        + (
            ""
            if setup.request_window is None
            else f" Every dialect counts requests over {setup.request_window:g} s."
        ),
        "",
        "Dialects: "
        + "; ".join(f"*{name}*: {dialects[name].description}" for name in dict.fromkeys(names))
        + ".",
        "",
    ]


def closed_markdown(setup: ClosedSetup, results: Sequence[ClosedMetrics]) -> str:
    """The closed-loop results: the setup, one table of every run, the balancer's targets."""
    dialects = {d.name: d for d in DIALECTS}
    lines = [
        "## Closed loop on every throttling dialect",
        "",
        *_closed_setup(setup, [m.run.scenario for m in results]),
        "Columns: *errors* are client-visible; *attempts / answer* = requests the emulator "
        "received / answers; *429s (early)*: of which sent while the backend's last "
        "Retry-After still ran; the run ends when its last request ended (cut ones: at the "
        "bound); *capacity used* = answers admitted within the run's whole quota windows / "
        "requests the quotas admit in them (less a neighbour's share); *answers/s* over the "
        "run, beside the capacity per second; latency in s from each request's send to its "
        "end; *fair bound* = the latency a fair FIFO queue gives: workers / capacity "
        "(Little's law) or the service time, whichever is longer: the mean of a loop that "
        "keeps the capacity busy; *neighbour*: its requests served / refused.",
        "",
        "| dialect | approach | requests | answers | errors | attempts / answer "
        "| 429s (early) | capacity used | answers/s (of) | p50 | p95 | max | mean "
        "| fair bound | neighbour |",
        "|" + "---|" * 15,
    ]
    for m in results:
        r = m.run
        neighbour = (
            f"{r.attempts.neighbour_served} / {r.attempts.neighbour_throttled}"
            if dialects[r.scenario].neighbour
            else "-"
        )
        lines.append(
            f"| {r.scenario} | {r.approach} | {r.requests} | {r.answers} | {_errors(r)} | "
            f"{_ratio(r.attempts_per_answer)} | {r.attempts.throttled} "
            f"({r.attempts.throttled_early}) | {r.capacity_used:.1%} | "
            f"{m.throughput:.2f} ({m.capacity:.2f}) | {_s(r.p50)} | {_s(r.p95)} | "
            f"{_s(r.max_latency)} | {_s(r.mean_latency)} | {_s(m.fair_bound)} | {neighbour} |"
        )
    lines += _targets_head("Closed-loop targets (the balancer)", CLOSED_TARGETS)
    for m in results:
        if m.run.approach != BALANCER:
            continue
        found = closed_targets(m, neighbour=bool(dialects[m.run.scenario].neighbour))
        cells = _cells(found)
        lines.append(f"| {m.run.scenario} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


PROCESSES_TARGETS = (
    "with Redis: capacity used >= 97%",
    "with Redis: 429s per answer <= 1.1x one process's",
    "no request lost or answered twice",
    "Redis killed mid-run: 0 client-visible errors",
)
"""Issue 12's targets for processes sharing one Redis, on every dialect."""


def _per_answer(r: RunMetrics) -> float | None:
    """429s per answer."""
    return r.attempts.throttled / r.answers if r.answers else None


def processes_targets(runs: Sequence[ProcessesRun], *, neighbour: bool = False) -> list[Target]:
    """`PROCESSES_TARGETS`, measured from one dialect's `runs`, in that order (None where the
    run that measures one is missing); with a `neighbour` the capacity is not judged."""
    one = next((r.closed.run for r in runs if r.variant.processes == 1), None)
    shared = next((r.closed.run for r in runs if r.variant.redis and not r.variant.kill), None)
    killed = next((r.closed.run for r in runs if r.variant.kill), None)
    found = []
    if shared is None:
        found.append(Target(PROCESSES_TARGETS[0], "-", None))
    elif neighbour:
        found.append(
            Target(PROCESSES_TARGETS[0], f"{shared.capacity_used:.1%} (not a target)", None)
        )
    else:
        found.append(
            Target(
                PROCESSES_TARGETS[0], f"{shared.capacity_used:.1%}", shared.capacity_used >= 0.97
            )
        )
    mine = None if shared is None else _per_answer(shared)
    theirs = None if one is None else _per_answer(one)
    if mine is None or theirs is None:
        found.append(Target(PROCESSES_TARGETS[1], "-", None))
    else:
        measured = f"{mine:.3f} vs 1.1 x {theirs:.3f}"
        found.append(Target(PROCESSES_TARGETS[1], measured, mine <= 1.1 * theirs))
    lost, twice = sum(r.lost for r in runs), sum(r.twice for r in runs)
    found.append(
        Target(
            PROCESSES_TARGETS[2],
            f"{lost} lost, {twice} twice in {len(runs)} runs" if runs else "-",
            (lost, twice) == (0, 0) if runs else None,
        )
    )
    found.append(
        Target(
            PROCESSES_TARGETS[3],
            "-" if killed is None else f"{killed.errors} of {killed.requests}",
            None if killed is None else killed.errors == 0,
        )
    )
    return found


def processes_markdown(setup: ProcessesSetup, runs: Sequence[ProcessesRun]) -> str:
    """The multi-process results: the setup, one table of every run, the targets per dialect."""
    dialects = {d.name: d for d in DIALECTS}
    names = list(dict.fromkeys(r.closed.run.scenario for r in runs))
    kill = setup.kill_at(dialects[names[0]]) if names else 0.0
    lines = [
        "## Several processes against the same backends",
        "",
        *_closed_setup(setup, names),
        f"Variants: *PxW* runs the workers as P spawned processes of W workers, each with its "
        f"own `Balancer`, all taking the next request from one shared counter; *redis*: "
        f"every balancer shares what it learns through one `RedisStore` on a redis-server of "
        f"the bench's own; *redis killed*: that redis-server is killed (SIGKILL) halfway "
        f"through the ideal run (about {kill:.0f} s in) and restarted, empty, "
        f"{setup.outage:g} s later. The emulator runs in the parent process; it, "
        "redis-server and every client process share the machine's cores (see above), "
        "so with more processes than cores the clients compete for CPU with each other "
        "and with the emulator, which one process does not.",
        "",
        "Columns as in the closed loop; *429s / answer* = the emulator's 429s / answers; "
        "*lost / twice*: requests no process recorded / recorded by two; *Redis down*: "
        "seconds after the start when it was killed and when it answered again.",
        "",
        "| dialect | variant | requests | answers | errors | attempts / answer "
        "| 429s (early) | 429s / answer | capacity used | answers/s (of) | p50 | p95 | max "
        "| lost / twice | Redis down |",
        "|" + "---|" * 15,
    ]
    for result in runs:
        m, r = result.closed, result.closed.run
        down = "-" if result.outage is None else "{:.0f}-{:.0f} s".format(*result.outage)
        lines.append(
            f"| {r.scenario} | {r.approach} | {r.requests} | {r.answers} | {_errors(r)} | "
            f"{_ratio(r.attempts_per_answer)} | {r.attempts.throttled} "
            f"({r.attempts.throttled_early}) | {_ratio(_per_answer(r))} | "
            f"{r.capacity_used:.1%} | {m.throughput:.2f} ({m.capacity:.2f}) | {_s(r.p50)} | "
            f"{_s(r.p95)} | {_s(r.max_latency)} | {result.lost} / {result.twice} | {down} |"
        )
    lines += _targets_head(
        "Targets (processes sharing one Redis)",
        (*PROCESSES_TARGETS, "without Redis"),
        "Beside them, what sharing saves: the processes alone (no store), on the same dialect.",
    )
    for name in names:
        mine = [r for r in runs if r.closed.run.scenario == name]
        found = processes_targets(mine, neighbour=bool(dialects[name].neighbour))
        cells = _cells(found)
        alone = next(
            (r.closed.run for r in mine if r.variant.processes > 1 and not r.variant.redis), None
        )
        cells.append(
            "-"
            if alone is None
            else f"{_ratio(_per_answer(alone))} 429s / answer, {alone.capacity_used:.1%} used"
        )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
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


EMBEDDINGS_TARGETS = (
    "0 client-visible errors (both pools)",
    "embedding capacity used >= 95%",
    "no cooldown from the other pool's 429s",
)
"""Issue 11's targets for embeddings beside chat through one balancer, on every dialect."""


def embeddings_targets(run: EmbeddingsRun, *, neighbour: bool = False) -> list[Target]:
    """`EMBEDDINGS_TARGETS`, measured from `run`, in that order; with a `neighbour` the
    capacity used is shown but not judged, as in the closed loop."""
    embedded, chat = run.embeddings.run, run.chat
    used = embedded.capacity_used
    crossed = {pool: run.crossed(pool) for pool in ("chat", "embeddings")}
    return [
        Target(
            EMBEDDINGS_TARGETS[0],
            f"{embedded.errors} of {embedded.requests}, {chat.errors} of {chat.requests}",
            embedded.errors == chat.errors == 0,
        ),
        Target(EMBEDDINGS_TARGETS[1], f"{used:.1%} (not a target)", None)
        if neighbour
        else Target(EMBEDDINGS_TARGETS[1], f"{used:.1%}", used >= 0.95),
        Target(
            EMBEDDINGS_TARGETS[2],
            f"{crossed['embeddings']} embedding, {crossed['chat']} chat (of "
            f"{embedded.attempts.throttled} + {chat.attempts.throttled} 429s)",
            sum(crossed.values()) == 0,
        ),
    ]


def embeddings_markdown(setup: EmbeddingsSetup, runs: Sequence[EmbeddingsRun]) -> str:
    """The embeddings-beside-chat results: the setup, both pools per dialect, the targets."""
    dialects = {d.name: d for d in DIALECTS}
    names = list(dict.fromkeys(r.chat.scenario for r in runs))
    lines = [
        "## Embeddings beside chat, one balancer",
        "",
        f"Emulated: {setup.resources} resources, each with a chat deployment at "
        f"{setup.chat_rpm} RPM and an embedding deployment at {setup.rpm} RPM (separate "
        f"quotas; requests counted over each dialect's window; tokens not binding). One "
        f"`balanced_openai_client` over one `Balancer` carries both loads at once. "
        f"*Embeddings*: {setup.workers} workers in a closed loop, each embedding its next "
        f"document (a batch of {setup.batch} chunks of {setup.chunk_chars} characters, the "
        f"same tokens each) as soon as its last was answered, {setup.latency * 1000:.0f} ms "
        f"per answer: {setup.demand:.0%} of the embedding quota asked, until "
        f"{setup.requests} documents have ended. *Chat*: seeded Poisson arrivals at "
        f"{setup.chat_load:.0%} of the chat quota (less a neighbour's share) for as long as "
        f"the ideal embedding run, {setup.chat_latency * 1000:.0f} ms per answer, max_tokens "
        f"{setup.max_tokens}. Per-attempt timeout {setup.attempt_timeout:g} s; hard bound: "
        f"twice the ideal run + {setup.grace:g} s."
        + (
            ""
            if setup.request_window is None
            else f" Every dialect counts requests over {setup.request_window:g} s."
        ),
        "",
        "Dialects: " + "; ".join(f"*{n}*: {dialects[n].description}" for n in names) + ".",
        "",
        "Columns: *errors* are client-visible; *429s* are counted by the emulator; *capacity "
        "used*: embeddings as in the closed loop (answers admitted within the run's whole "
        "quota windows / requests the quotas admit in them, less a neighbour's share; every "
        "request costs the same tokens, so it is the share of tokens too), chat as in the "
        "open loop (answers within the planned arrivals / requests the quotas admit in "
        "them); latency in s, embeddings from each request's send, chat from its scheduled "
        "arrival; *tokens*: embedded (answers' usage); *429s not its own*: 429s (each a "
        "cooldown) the balancer recorded against the pool's backends beyond those each "
        "one's own deployment sent, as another pool's would be "
        "(`Balancer.snapshot()` against the emulator's count per resource and deployment); "
        "*unrecorded*: 429s sent that no backend was charged with.",
        "",
        "| dialect | pool | requests | answers | errors | 429s | 429s / answer "
        "| capacity used | p50 | p95 | tokens | 429s not its own | unrecorded |",
        "|" + "---|" * 13,
    ]
    for result in runs:
        for pool, r in (("embeddings", result.embeddings.run), ("chat", result.chat)):
            tokens = f"{result.tokens:,}" if pool == "embeddings" else "-"
            unrecorded = sum(a.unrecorded for a in result.attribution if a.pool == pool)
            lines.append(
                f"| {r.scenario} | {pool} | {r.requests} | {r.answers} | {_errors(r)} | "
                f"{r.attempts.throttled} | {_ratio(_per_answer(r))} | {r.capacity_used:.1%} | "
                f"{_s(r.p50)} | {_s(r.p95)} | {tokens} | {result.crossed(pool)} | "
                f"{unrecorded} |"
            )
    lines += _targets_head("Targets (embeddings beside chat)", EMBEDDINGS_TARGETS)
    for result in runs:
        name = result.chat.scenario
        found = embeddings_targets(result, neighbour=bool(dialects[name].neighbour))
        lines.append(f"| {name} | " + " | ".join(_cells(found)) + " |")
    return "\n".join(lines) + "\n"
