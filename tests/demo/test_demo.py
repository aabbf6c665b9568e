"""`aoai-fallbacks demo` runs by itself on the built-in emulator and prints its summary.

Shortened with --duration; output is not a terminal here, so the demo must
degrade to plain lines. Counts are asserted, never times.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aoai_fallbacks._cli import main

pytestmark = pytest.mark.integration


def _row(out: str, label: str) -> list[str]:
    match = re.search(rf"^{re.escape(label)}: (.+)$", out, re.MULTILINE)
    assert match, f"no {label!r} line in:\n{out}"
    return [cell.strip() for cell in match.group(1).split("|")]


@pytest.mark.timeout(90)
def test_demo_runs_both_phases_and_prints_the_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--duration", "6"]) == 0

    out = capsys.readouterr().out
    assert "Started the built-in Azure OpenAI emulator" in out
    assert "-- recipe --" in out
    assert "-- balancer --" in out
    assert "summary: recipe, balancer" in out
    requests = [int(n) for n in _row(out, "requests")]
    answers = [int(n) for n in _row(out, "answers")]
    errors = [int(n) for n in _row(out, "client-visible errors")]
    assert requests[0] == requests[1] > 0  # the same workload through both
    assert [a + e for a, e in zip(answers, errors, strict=True)] == requests
    assert len(_row(out, "p95 latency (ms)")) == 2
    assert all(cell != "-" for cell in _row(out, "429s suffered"))


def test_live_without_confirmation_sends_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("AOAI_ENDPOINT_01", "http://127.0.0.1:9")
    monkeypatch.setenv("AOAI_KEY_01", "not-a-real-key")
    monkeypatch.setenv("AOAI_DEPLOYMENT", "gpt-35-turbo")
    assert main(["demo", "--live", "--duration", "4"]) == 1
    out = capsys.readouterr().out
    assert "this sends 2 requests through the seed recipe and 2 through the balancer" in out
    assert "nothing sent" in out
    assert "not-a-real-key" not in out


def test_a_broken_configuration_is_one_line_with_live(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AOAI_KEY_03", "secret-value")
    assert main(["demo", "--live", "--yes"]) == 2
    out = capsys.readouterr().out
    assert "AOAI_ENDPOINT_03" in out
    assert "secret-value" not in out
    assert "Traceback" not in out
