"""`aoai-fallbacks bench --quick`, as CI runs it, open and closed loop: each completes on the
emulator and its counts add up.

Never asserts times: only that every run ended, every request is either an
answer or a client-visible error, and the files are written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aoai_fallbacks._cli import main
from aoai_fallbacks._cli.bench.closed import quick_closed_setup
from aoai_fallbacks._cli.bench.dialects import DIALECTS
from aoai_fallbacks._cli.bench.scenarios import BASELINE, quick_setup

pytestmark = pytest.mark.integration


@pytest.mark.timeout(110)
def test_quick_bench_completes_and_its_counts_add_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "--quick", "--out", str(tmp_path)]) == 0

    runs = json.loads((tmp_path / "results.json").read_text())
    assert {r.pop("workload") for r in runs} == {"open"}
    scenarios = [s.name for s in quick_setup().scenarios]
    expected = {(BASELINE, "direct")} | {
        (s, a) for s in scenarios for a in ("direct", "recipe", "balancer")
    }
    assert {(r["scenario"], r["approach"]) for r in runs} == expected
    for run in runs:
        assert run["requests"] > 0
        assert run["answers"] + run["errors"] == run["requests"], run
        assert sum(n for _, n in run["error_kinds"]) == run["errors"], run
        attempts = run["attempts"]
        # every answer was served by a backend; each attempt is counted once by the emulator
        assert attempts["served"] >= run["answers"], run
        assert attempts["requests"] == sum(
            attempts[k] for k in ("served", "throttled", "failed", "rejected")
        ), run
        assert run["wasted"] == attempts["requests"] - attempts["served"]

    by = {(r["scenario"], r["approach"]): r for r in runs}
    # in the fault scenario the direct client sits on the backend that answers 503
    assert by[("faults", "direct")]["answers"] == 0
    assert by[("faults", "direct")]["attempts"]["failed"] > 0

    text = (tmp_path / "results.md").read_text()
    assert "## Targets (the balancer)" in text
    assert "## faults:" in text
    assert (tmp_path / "results.png").read_bytes().startswith(b"\x89PNG")
    assert text in capsys.readouterr().out


@pytest.mark.timeout(60)
def test_quick_closed_loop_runs_every_dialect_through_the_balancer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "--workload", "closed", "--quick", "--out", str(tmp_path)]) == 0

    runs = json.loads((tmp_path / "results.json").read_text())
    assert [(r["workload"], r["run"]["scenario"], r["run"]["approach"]) for r in runs] == [
        ("closed", d.name, "balancer") for d in DIALECTS
    ]
    for entry in runs:
        run = entry["run"]
        assert run["requests"] == quick_closed_setup().requests
        assert run["answers"] + run["errors"] == run["requests"], run
        assert sum(n for _, n in run["error_kinds"]) == run["errors"], run
        assert run["attempts"]["served"] >= run["answers"], run
        assert entry["workers"] == 8
    neighbour = runs[-1]["run"]["attempts"]
    assert neighbour["neighbour_served"] + neighbour["neighbour_throttled"] > 0

    text = (tmp_path / "results.md").read_text()
    assert "## Closed-loop targets (the balancer)" in text
    assert "## 50%" not in text  # the open loop did not run
    assert not (tmp_path / "results.png").exists()
    assert text in capsys.readouterr().out
