"""The proxy's benchmark (`--workload proxy`): the quick run serves a real proxy process in
front of the emulator, and every request, stream and chunk is accounted for; the stream
check catches a chunk duplicated, missing or out of order.

Never asserts times or rates: only counts. The quick run proves the machinery (the
``serve`` process, the load, the streams, the closed loop through the proxy), not the numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aoai_fallbacks._cli import main
from aoai_fallbacks._cli.bench.closed import closed_metrics, full_closed_setup
from aoai_fallbacks._cli.bench.dialects import parse_dialects
from aoai_fallbacks._cli.bench.metrics import Attempts, ClosedMetrics, RequestRecord
from aoai_fallbacks._cli.bench.proxy import (
    PROXY_TARGETS,
    Hop,
    ProxyRun,
    Streams,
    Throughput,
    _Streamed,
    _tally,
    proxy_targets,
    quick_proxy_setup,
)

CHUNKS = ["a", "b", "c"]


def test_the_stream_check_counts_duplicated_missing_reordered_and_lost_chunks() -> None:
    found = _tally(
        CHUNKS,
        [
            _Streamed(200, list(CHUNKS), done=True),
            _Streamed(200, ["a", "b", "b", "c"], done=True),  # one duplicated
            _Streamed(200, ["a", "c"], done=True),  # one missing
            _Streamed(200, ["b", "a", "c"], done=True),  # every chunk, out of order
            _Streamed(200, ["a"], error="RemoteProtocolError"),  # cut: started, lost
            _Streamed(503),  # never started
            _Streamed(0, error="ConnectError"),
        ],
    )
    assert (found.asked, found.expected_chunks) == (7, 3)
    assert (found.started, found.completed, found.lost) == (5, 4, 3)
    assert (found.duplicated, found.missing, found.reordered) == (1, 1 + 2, 1)
    assert dict(found.errors) == {"RemoteProtocolError": 1, "HTTP 503": 1, "ConnectError": 1}


def _loop(dialect: str, answered: int = 30, every: float = 1.0) -> ClosedMetrics:
    """The closed loop on `dialect`: `answered` of 30 requests answered, 3 every `every`
    seconds (1.0: all the capacity), the others cut at the bound."""
    setup = full_closed_setup(requests=30)
    records = [RequestRecord(i, 0.01 + i // 3 * every, 1.0) for i in range(answered)]
    records += [RequestRecord(i, 0.0, None, "unfinished") for i in range(answered, 30)]
    return closed_metrics(
        setup, parse_dialects(dialect)[0], "any", records, Attempts(answered, answered)
    )


def _hop(rate: float, lost: int) -> Hop:
    throughput = Throughput("proxy", 1_000, 0, 1_000 / rate, None, None, 0.5, 0.5, 1.0)
    streams = Streams(500, 13, 500, 500 - lost, 0, 0, 0, ())
    return Hop((0.001,), (0.002,), throughput, throughput, streams, (0.0, 0.0, 0.0))


def test_the_targets_are_judged_from_the_numbers() -> None:
    run = ProxyRun(
        _hop(1_200.0, lost=0),
        (
            (_loop("ms"), _loop("ms")),
            (_loop("seconds"), _loop("seconds", every=2.0)),  # half the capacity
            (_loop("none"), _loop("none", answered=27)),  # 3 errors
            (_loop("neighbour"), _loop("neighbour", every=2.0)),  # capacity not judged
        ),
    )
    found = proxy_targets(run)
    assert [t.text for t in found[:2]] == list(PROXY_TARGETS[:2])
    assert [t.text for t in found[2:]] == [
        f"{PROXY_TARGETS[2]} ({name})" for name in ("ms", "seconds", "none", "neighbour")
    ]
    assert [t.met for t in found] == [True, True, True, False, False, True]
    assert found[3].measured.startswith("50.0% vs 100.0%")
    assert found[4].measured.endswith("3 vs 0 errors")
    assert "(not a target)" in found[5].measured

    slow = proxy_targets(ProxyRun(_hop(900.0, lost=1), ()))
    assert [t.met for t in slow] == [False, False]
    assert slow[1].measured.startswith("500 asked: 1 lost")


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_quick_proxy_run_accounts_for_every_request_and_stream(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "--workload", "proxy", "--quick", "--out", str(tmp_path)]) == 0

    setup = quick_proxy_setup()
    hop, *capacity = json.loads((tmp_path / "results.json").read_text())
    assert (hop["workload"], hop["measure"]) == ("proxy", "hop")
    for side in ("direct", "proxy"):
        assert hop["sequential"][side]["answered"] == setup.sequential
    for measured in hop["throughput"]:
        assert (measured["requests"], measured["errors"]) == (setup.requests, 0), measured
    assert hop["throughput"][1]["proxy_cpu"] is not None  # read from /proc on Linux
    assert hop["throughput"][0]["emulator_cpu"] is not None
    streams = hop["streams"]
    assert streams["expected_chunks"] > 2  # the filter chunk, the role chunk, content, finish
    assert streams["asked"] == streams["started"] == streams["completed"] == setup.streams
    assert (streams["duplicated"], streams["missing"], streams["reordered"]) == (0, 0, 0)
    assert (hop["lost"], streams["errors"]) == (0, [])

    # the quick run compares the capacity on one dialect, in process and through the proxy
    assert [(c["measure"], c["in_process"]["run"]["scenario"]) for c in capacity] == [
        ("capacity", "ms")
    ]
    for path in ("in_process", "proxy"):
        run = capacity[0][path]["run"]
        assert run["approach"] == ("balancer" if path == "in_process" else "proxy")
        assert run["requests"] == setup.closed.requests
        assert run["answers"] + run["errors"] == run["requests"], run
        assert run["answers"] > 0, run
        assert run["attempts"]["served"] >= run["answers"], run

    text = (tmp_path / "results.md").read_text()
    assert "## The proxy: what the hop adds, and the capacity behind it" in text
    assert "### Targets (the proxy)" in text
    assert text in capsys.readouterr().out
