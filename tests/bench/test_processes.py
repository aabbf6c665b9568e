"""The closed loop split over several processes (`--workload processes`): every request is
sent by exactly one process and ends exactly once, with or without Redis, and with Redis
killed mid-run.

Counts only, never times: the quick run proves the machinery (spawned processes,
the shared counter, the store, the kill and restart), not the numbers.
"""

from __future__ import annotations

import json
import multiprocessing
import queue
from pathlib import Path

import pytest

from aoai_fallbacks._cli import main
from aoai_fallbacks._cli.bench.closed import closed_metrics
from aoai_fallbacks._cli.bench.dialects import parse_dialects
from aoai_fallbacks._cli.bench.metrics import Attempts, RequestRecord
from aoai_fallbacks._cli.bench.processes import (
    ProcessesRun,
    ProcessesSetup,
    _collect,
    _Shared,
    full_processes_setup,
    quick_processes_setup,
    redis_missing,
)
from aoai_fallbacks._cli.bench.report import PROCESSES_TARGETS, processes_targets


@pytest.mark.integration
@pytest.mark.timeout(240)
def test_quick_processes_run_answers_every_request_exactly_once_in_every_variant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--workload", "processes", "--quick", "--dialects", "ms", "--out", str(tmp_path)]
    assert main(["bench", *flags]) == 0

    setup = quick_processes_setup()
    missing = redis_missing()
    expected = [v for v in setup.variants() if missing is None or not v.redis]
    runs = json.loads((tmp_path / "results.json").read_text())
    assert [(r["workload"], r["variant"]) for r in runs] == [
        ("processes", {"name": v.name, "processes": v.processes, "redis": v.redis, "kill": v.kill})
        for v in expected
    ]
    for entry in runs:
        run = entry["closed"]["run"]
        assert (entry["lost"], entry["twice"]) == (0, 0), entry["variant"]
        assert run["requests"] == setup.requests
        assert run["answers"] + run["errors"] == run["requests"], run
        assert run["attempts"]["served"] >= run["answers"], run
        assert entry["workers"] * entry["variant"]["processes"] == setup.workers
        assert (entry["outage"] is not None) == entry["variant"]["kill"]
    text = (tmp_path / "results.md").read_text()
    assert "## Targets (processes sharing one Redis)" in text
    assert text in capsys.readouterr().out
    if missing is not None:
        pytest.skip(f"the Redis variants did not run: {missing}")


def test_processes_sharing_the_counter_take_every_request_once() -> None:
    counter = multiprocessing.get_context("spawn").Value("i", 0)
    prompts = [f"request {i}" for i in range(7)]
    first, second = _Shared(prompts, counter), _Shared(prompts, counter)
    mine, theirs = iter(enumerate(first)), iter(enumerate(second))
    # the first takes two, the second one, the first the rest
    taken = [next(mine), next(mine), next(theirs), *mine, *theirs]
    assert [local for local, _ in taken] == [0, 1, 0, 2, 3, 4, 5]
    assert first.taken == [0, 1, 3, 4, 5, 6]
    assert second.taken == [2]
    assert sorted(first.taken + second.taken) == list(range(7))
    assert len(first) == len(second) == 7


def test_the_variants_split_the_workers() -> None:
    setup = full_processes_setup()
    assert [(v.name, v.processes, v.redis, v.kill) for v in setup.variants()] == [
        ("1x8", 1, False, False),
        ("4x2", 4, False, False),
        ("4x2 redis", 4, True, False),
        ("4x2 redis killed", 4, True, True),
    ]
    assert setup.kill_at(parse_dialects("ms")[0]) == pytest.approx(50.0)  # 300 at 3/s
    assert [v.name for v in quick_processes_setup().variants()][:2] == ["1x4", "2x2"]
    with pytest.raises(ValueError, match="8 workers do not split evenly over 3 processes"):
        ProcessesSetup(processes=3)


def test_a_process_that_failed_is_named() -> None:
    results: queue.Queue[tuple[int, list[RequestRecord] | str]] = queue.Queue()
    results.put((0, [RequestRecord(0, 0.0, 1.0)]))
    results.put((1, "ConnectionError: refused"))
    with pytest.raises(RuntimeError, match="bench process 1 failed: ConnectionError: refused"):
        _collect(results, 2, 1.0)
    with pytest.raises(RuntimeError, match=r"sent nothing back within 0\.1 s"):
        _collect(results, 1, 0.1)


def _run(variant: int, *, throttled: int, errors: int = 0, lost: int = 0) -> ProcessesRun:
    """A run of `full_processes_setup().variants()[variant]` on ms: 30 requests answered
    one window after another (all the capacity), `errors` more failed, `lost` never sent."""
    setup = full_processes_setup(requests=30)
    chosen = setup.variants()[variant]
    records = [RequestRecord(i, 0.01 + (i % 30) // 8 * 1.0, 1.0) for i in range(30)]
    records += [RequestRecord(30 + i, 5.0, 1.0, "RateLimitError") for i in range(errors)]
    closed = closed_metrics(
        setup,
        parse_dialects("ms")[0],
        chosen.name,
        records,
        Attempts(30 + throttled + errors, 30, throttled=throttled + errors),
    )
    outage = (2.0, 3.0) if chosen.kill else None
    return ProcessesRun(chosen, 8 // chosen.processes, closed, lost, 0, outage)


def test_processes_targets_are_judged_from_the_numbers() -> None:
    good = processes_targets(
        [_run(0, throttled=3), _run(1, throttled=30), _run(2, throttled=3), _run(3, throttled=4)]
    )
    assert [t.text for t in good] == list(PROCESSES_TARGETS)
    assert [t.met for t in good] == [True, True, True, True]
    assert good[1].measured == "0.100 vs 1.1 x 0.100"

    bad = processes_targets(
        [_run(0, throttled=3), _run(2, throttled=4, lost=1), _run(3, throttled=3, errors=2)]
    )
    assert [t.met for t in bad] == [True, False, False, False]
    assert bad[2].measured == "1 lost, 0 twice in 3 runs"
    assert bad[3].measured == "2 of 32"

    missing = processes_targets([_run(1, throttled=3)], neighbour=True)
    assert [t.met for t in missing] == [None, None, True, None]
