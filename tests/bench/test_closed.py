"""The closed loop's pure parts: the driver's counting, the fair-queue bound, capacity over
whole windows, the dialect matrix and the targets judged from the numbers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from aoai_fallbacks._cli import main
from aoai_fallbacks._cli.bench.closed import (
    ClosedSetup,
    closed_metrics,
    drive_closed,
    full_closed_setup,
    quick_closed_setup,
)
from aoai_fallbacks._cli.bench.dialects import DIALECTS, parse_dialects
from aoai_fallbacks._cli.bench.metrics import (
    UNFINISHED,
    Attempts,
    ClosedMetrics,
    RequestRecord,
    fair_bound,
    full_windows,
)
from aoai_fallbacks._cli.bench.report import CLOSED_TARGETS, closed_markdown, closed_targets
from aoai_fallbacks._cli.bench.workload import prompts
from aoai_fallbacks.emulator import DeploymentConfig


class CountingAsker:
    """Answers after a few turns of the event loop, counting what is in flight; prompts
    containing "fail" raise, prompts containing "hang" never end."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most = 0
        self.asked: list[str] = []

    async def ask(self, prompt: str) -> str | None:
        self.asked.append(prompt)
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            if "hang" in prompt:
                await asyncio.Event().wait()
            for _ in range(len(self.asked) % 3 + 1):
                await asyncio.sleep(0)
            if "fail" in prompt:
                raise RuntimeError("refused")
            return "01"
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        return None


def test_each_request_ends_exactly_once_and_no_more_than_the_workers_are_in_flight() -> None:
    requests = [f"request {i}" + (" fail" if i % 7 == 3 else "") for i in range(50)]
    asker = CountingAsker()
    records: list[RequestRecord] = []
    asyncio.run(drive_closed(asker, requests, workers=4, deadline=60.0, records=records))

    assert sorted(r.index for r in records) == list(range(50))
    assert sorted(asker.asked) == sorted(requests)  # each sent once
    assert asker.most == 4
    failed = [r for r in records if not r.ok]
    assert [r.index for r in sorted(failed, key=lambda r: r.index)] == list(range(3, 50, 7))
    assert {r.error for r in failed} == {"RuntimeError"}
    assert all(r.latency is not None and r.latency >= 0 for r in records)
    assert sum(r.ok for r in records) + len(failed) == len(requests)


def test_fewer_requests_than_workers_start_one_worker_each() -> None:
    asker = CountingAsker()
    records: list[RequestRecord] = []
    asyncio.run(drive_closed(asker, ["a", "b"], workers=8, deadline=60.0, records=records))
    assert (asker.most, len(records)) == (2, 2)


def test_at_the_deadline_requests_in_flight_and_unsent_are_unfinished() -> None:
    # two workers, both stuck on hanging requests: the rest are never sent
    requests = ["hang 0", "hang 1", "never 2", "never 3"]
    asker = CountingAsker()
    records: list[RequestRecord] = []
    asyncio.run(drive_closed(asker, requests, workers=2, deadline=0.05, records=records))

    assert sorted(r.index for r in records) == [0, 1, 2, 3]
    assert {r.error for r in records} == {UNFINISHED}
    assert all(r.latency is None for r in records)
    assert asker.asked == ["hang 0", "hang 1"]
    assert asker.in_flight == 0  # the hanging requests were cancelled


def test_a_closed_loop_needs_a_worker() -> None:
    with pytest.raises(ValueError, match="workers must be at least 1"):
        asyncio.run(drive_closed(CountingAsker(), ["a"], workers=0, deadline=1.0, records=[]))


def test_prompts_are_seeded() -> None:
    assert prompts(20, seed=3) == prompts(20, seed=3) != prompts(20, seed=4)
    assert len(prompts(20)) == 20


def test_the_fair_bound_is_littles_law_when_the_workers_overload_the_capacity() -> None:
    assert fair_bound(8, 3.0, 1.0) == pytest.approx(8 / 3)  # the stand-in: 2.67 s
    assert fair_bound(8, 2.1, 1.0) == pytest.approx(8 / 2.1)  # less a neighbour's 30%
    assert fair_bound(2, 3.0, 1.0) == 1.0  # nothing waits: the service time
    assert fair_bound(3, 3.0, 1.0) == 1.0


def test_full_windows_end_before_the_last_answers_admission() -> None:
    assert full_windows(94.0, service=1.0, window=10.0) == 9
    assert full_windows(100.0, service=1.0, window=1.0) == 99
    assert full_windows(0.5, service=1.0, window=10.0) == 1


def _perfect_loop(setup: ClosedSetup, *, pause: float = 0.0) -> list[RequestRecord]:
    """The records of an ideal client on 10 s windows: each worker's requests answered
    back to back until the windows are full, the next batch as soon as they slide; `pause`
    seconds lost before every batch after the first. The first request leaves 10 ms after
    the start, as the driver's first send does."""
    per_window = setup.resources * setup.rpm // 6
    records = []
    for index in range(setup.requests):
        batch, within = divmod(index, per_window)
        round_ = within // setup.workers
        sent = 0.01 + batch * (10.0 + pause) + round_ * setup.latency
        records.append(RequestRecord(index, sent, setup.latency))
    return records


def test_a_perfect_closed_loop_uses_all_the_capacity_over_whole_windows() -> None:
    setup = full_closed_setup()
    ms = DIALECTS[0]
    m = closed_metrics(setup, ms, "balancer", _perfect_loop(setup), Attempts(300, 300))
    assert m.run.capacity_used == pytest.approx(1.0)
    # 30 answers 1, 2, 3 and 4 s after each window's start: the last at 94 s; answers
    # over the run's length x 3/s would read 106% because of the first window's burst
    assert m.throughput == pytest.approx(300 / 94.01)
    assert m.run.attempts_per_answer == 1.0
    assert m.fair_bound == pytest.approx(8 / 3)
    assert m.capacity == 3.0


def test_seconds_lost_between_windows_are_capacity_not_used() -> None:
    setup = full_closed_setup()
    m = closed_metrics(setup, DIALECTS[0], "balancer", _perfect_loop(setup, pause=1.0), Attempts())
    # batches start at 0, 11, ..., 99, the last answer ends at 103: over the 10 whole
    # windows before its admission, 9 batches of 30 and the first 8 of the last were
    # admitted, of the 300 requests the windows admit
    assert m.run.capacity_used == pytest.approx(278 / 300)


def test_a_loop_stalled_after_its_last_answer_wasted_the_capacity_it_left_idle() -> None:
    # one window's 30 answers, then 8 requests hang until the hard bound cuts them
    setup = full_closed_setup(requests=38)
    ms = DIALECTS[0]
    records = _perfect_loop(full_closed_setup(requests=30))
    records += [RequestRecord(30 + i, 4.01, None, UNFINISHED) for i in range(8)]
    m = closed_metrics(setup, ms, "balancer", records, Attempts(38, 30))
    bound = setup.deadline(ms)
    assert bound == pytest.approx(2 * (38 / 3 + 1) + 30)
    windows = int((bound - 1.0) // 10)  # 5 whole windows before the cut
    assert m.run.capacity_used == pytest.approx(30 / (3 * 10 * windows))
    assert m.throughput == pytest.approx(30 / bound)


def test_the_dialect_matrix() -> None:
    assert [d.name for d in parse_dialects(None)] == [
        "ms",
        "seconds",
        "none",
        "unknown",
        "1s-window",
        "neighbour",
    ]
    setup = full_closed_setup()
    built = {d.name: setup.deployment(d) for d in DIALECTS}
    base = DeploymentConfig("gpt-35-turbo", tpm=1_000_000, rpm=60)
    assert built["ms"] == base
    assert built["seconds"] == DeploymentConfig(
        "gpt-35-turbo", tpm=1_000_000, rpm=60, retry_after="seconds", reset_headers=True
    )
    assert built["none"] == DeploymentConfig(
        "gpt-35-turbo", tpm=1_000_000, rpm=60, retry_after="none"
    )
    assert built["unknown"] == DeploymentConfig(
        "gpt-35-turbo", tpm=1_000_000, rpm=60, remaining_headers="unknown"
    )
    # RPM/60 per 1 s admits what RPM/6 per 10 s does each second: the RPM stays
    assert built["1s-window"] == DeploymentConfig(
        "gpt-35-turbo", tpm=1_000_000, rpm=60, request_window=1.0
    )
    assert built["neighbour"] == DeploymentConfig(
        "gpt-35-turbo", tpm=1_000_000, rpm=60, neighbour=0.3
    )
    assert {d.name: setup.capacity(d) for d in DIALECTS} == pytest.approx(
        {
            "ms": 3.0,
            "seconds": 3.0,
            "none": 3.0,
            "unknown": 3.0,
            "1s-window": 3.0,
            "neighbour": 2.1,
        }
    )
    assert setup.deadline(DIALECTS[0]) == pytest.approx(2 * (300 / 3 + 1) + 30)


def test_the_quick_run_counts_every_dialect_over_1s() -> None:
    setup = quick_closed_setup()
    assert {setup.deployment(d).request_window for d in DIALECTS} == {1.0}
    assert setup.deployment(parse_dialects("none")[0]).retry_after == "none"
    assert setup.capacity(DIALECTS[0]) == 6.0


def test_dialects_are_chosen_by_name() -> None:
    assert [d.name for d in parse_dialects("neighbour, ms")] == ["neighbour", "ms"]
    with pytest.raises(ValueError, match=r"unknown dialect 'nope'; known: ms, seconds"):
        parse_dialects("ms,nope")


def test_the_rpm_must_fit_both_windows() -> None:
    with pytest.raises(ValueError, match="multiple of 60"):
        ClosedSetup(rpm=90)


def _metrics(
    dialect: str,
    *,
    errors: int = 0,
    latency: float = 2.0,
    slowest: float = 2.0,
    attempts: int = 300,
) -> ClosedMetrics:
    setup = full_closed_setup(requests=30)
    records = [RequestRecord(i, float(i // 8), latency) for i in range(29)]
    records.append(RequestRecord(29, 4.0, slowest))
    records += [RequestRecord(30 + i, 5.0, 1.0, "RateLimitError") for i in range(errors)]
    return closed_metrics(
        setup, parse_dialects(dialect)[0], "balancer", records, Attempts(attempts, 30)
    )


def test_closed_targets_are_judged_from_the_numbers() -> None:
    good = {t.text: t for t in closed_targets(_metrics("ms", attempts=30))}
    assert list(good) == list(CLOSED_TARGETS)
    assert {t.met for t in good.values()} == {True}
    assert good["p95 <= 1.3x the fair bound"].measured == "2.00 s vs 1.3 x 2.67 s"

    bad = {
        t.text: t
        for t in closed_targets(_metrics("ms", errors=2, latency=3.5, slowest=8.0, attempts=60))
    }
    assert {t.met for t in bad.values()} == {False}
    assert bad["attempts per answer <= 1.05"].measured == "2.00"
    assert bad["0 client-visible errors"].measured == "2 of 32"


def test_with_a_neighbour_only_errors_are_a_target() -> None:
    found = {t.text: t for t in closed_targets(_metrics("neighbour", attempts=60), neighbour=True)}
    assert found["0 client-visible errors"].met is True
    others = [t for text, t in found.items() if text != "0 client-visible errors"]
    assert {t.met for t in others} == {None}
    assert all(t.measured.endswith("(not a target)") for t in others)


def test_closed_markdown_has_every_run_and_the_balancers_targets() -> None:
    runs = [_metrics("ms", attempts=30), _metrics("neighbour", errors=1)]
    text = closed_markdown(full_closed_setup(), runs)
    assert "## Closed loop on every throttling dialect" in text
    assert "| ms | balancer | 30 | 30 | 0 | 1.00 |" in text
    assert "| neighbour | balancer | 31 | 30 | 1 (RateLimitError 1) |" in text
    assert "| ms | 100.0%: met |" in text
    assert "1 of 31: **not met**" in text


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--dialects", "ms,bogus"], "unknown dialect 'bogus'"),
        (["--requests", "0"], "at least one worker and one request"),
    ],
)
def test_the_command_refuses_what_it_cannot_run(
    flags: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "--workload", "closed", *flags, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "results.md").exists()
