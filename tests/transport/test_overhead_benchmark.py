"""`benchmarks/transport_overhead.py` keeps running and reports all three figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "transport_overhead.py"


def test_the_benchmark_prints_microseconds_per_request() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--requests", "20", "--backends", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    figures = dict(re.findall(r"^(.+?)\s+(-?[\d.]+) µs/request$", done.stdout, re.MULTILINE))
    assert set(figures) == {
        "inner transport alone",
        "through BalancingTransport",
        "balancing overhead",
    }
    assert float(figures["through BalancingTransport"]) > 0
