"""`benchmarks/transport_overhead.py --otel sdk` measures the balancer with OpenTelemetry on."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "transport_overhead.py"


def test_the_benchmark_runs_with_the_sdk_configured() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--calls", "20", "--rounds", "2", "--otel", "sdk"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    figures = dict(re.findall(r"^(.+?)\s+(-?[\d.]+) µs/request$", done.stdout, re.MULTILINE))
    assert float(figures["balancing overhead"]) > 0
