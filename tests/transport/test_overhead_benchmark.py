"""`benchmarks/transport_overhead.py` keeps running and reports all three figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "transport_overhead.py"


def test_the_benchmark_prints_microseconds_per_request() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--calls", "20", "--rounds", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    figures = {
        name: float(value)
        for name, value in re.findall(
            r"^(.+?)\s+(-?[\d.]+) µs/request$", done.stdout, re.MULTILINE
        )
    }
    assert set(figures) == {"direct SDK call", "through BalancingTransport", "balancing overhead"}
    assert figures["direct SDK call"] > 0
    assert figures["balancing overhead"] > 0  # the balancer's own work cannot be free
    assert figures["through BalancingTransport"] == pytest.approx(
        figures["direct SDK call"] + figures["balancing overhead"], abs=0.15
    )
