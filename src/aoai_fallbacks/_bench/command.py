"""Run every approach through every scenario on the built-in emulator, side by side.

Approaches: a direct single deployment (openai SDK, default retries), the seed
recipe (fallback_chain), the smart balancer (balanced_chat_model), and, when
installed, openai-priority-loadbalancer and LiteLLM's Router. Scenarios: 50%,
100% and 200% of the emulated resources' total capacity, and a fault scenario
(one backend answering 503, one hanging). Each pair gets a fresh emulator.

Prints a markdown table and writes it, with the raw metrics as JSON and a PNG
plot, to --out. --quick is
the smoke test CI runs (under a minute, only the library's own approaches).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
from dataclasses import asdict
from pathlib import Path

__all__ = ["add_arguments", "run"]

DEFAULT_OPTIONAL = ("priority-lb", "litellm")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick", action="store_true", help="2 s per scenario, own approaches only (CI)"
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
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG")


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
    from aoai_fallbacks._bench.approaches import APPROACHES, by_name
    from aoai_fallbacks._bench.engine import run_one
    from aoai_fallbacks._bench.overhead import measure_overhead
    from aoai_fallbacks._bench.report import markdown, plot
    from aoai_fallbacks._bench.scenarios import BASELINE, Scenario, full_setup, quick_setup

    setup = quick_setup() if args.quick else full_setup()
    if args.approaches:
        try:
            chosen = [by_name(name.strip()) for name in args.approaches.split(",")]
        except KeyError as error:
            print(f"aoai-fallbacks bench: {error.args[0]}", file=sys.stderr)
            return 2
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

    baseline = Scenario(BASELINE, 0.5, setup.scenarios[0].duration)
    runs = []
    for scenario, approach in [(baseline, by_name("direct"))] + [
        (s, a) for s in setup.scenarios for a in approaches
    ]:
        print(f"running {approach.name} through {scenario.name} ...", flush=True)
        result = run_one(setup, scenario, approach)
        m = result.metrics
        print(
            f"  {m.answers}/{m.requests} answered, {m.errors} errors, "
            f"{m.attempts.throttled} 429s, {m.wasted} wasted attempts",
            flush=True,
        )
        runs.append(result)
    print("measuring the balancer's CPU cost per request ...", flush=True)
    overhead = measure_overhead(200 if args.quick else 2_000, rounds=3 if args.quick else 5)

    command = ["aoai-fallbacks", "bench"] + (["--quick"] if args.quick else [])
    if args.approaches:
        command += ["--approaches", args.approaches]
    command += ["--out", str(args.out)]
    text = markdown(setup, runs, overhead, command=shlex.join(command), machine=machine())
    print()
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text(text)
    (args.out / "results.json").write_text(json.dumps([asdict(r.metrics) for r in runs], indent=1))
    if not args.no_plot:
        plot(runs, args.out / "results.png")
    print(f"wrote {args.out / 'results.md'}" + ("" if args.no_plot else " and results.png"))
    return 0
