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
from aoai_fallbacks._cli.bench.proxy import _Streamed, _tally, quick_proxy_setup

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
