"""The benchmark's pure parts: the workload is reproducible, the metrics add up, the targets judge."""

from __future__ import annotations

import itertools

import pytest

from aoai_fallbacks._cli.bench.engine import Run
from aoai_fallbacks._cli.bench.metrics import Attempts, RequestRecord, percentiles, summarize
from aoai_fallbacks._cli.bench.overhead import Overhead
from aoai_fallbacks._cli.bench.report import markdown, targets
from aoai_fallbacks._cli.bench.scenarios import BASELINE, full_setup
from aoai_fallbacks._cli.bench.workload import open_loop


def test_open_loop_is_seeded_and_keeps_its_rate() -> None:
    first = open_loop(10.0, 2_000, seed=3)
    assert first == open_loop(10.0, 2_000, seed=3)
    assert first != open_loop(10.0, 2_000, seed=4)
    assert [a.index for a in first] == list(range(2_000))
    assert all(b.at >= a.at for a, b in itertools.pairwise(first))
    assert first[-1].at / 2_000 == pytest.approx(0.1, rel=0.1)


def test_even_arrivals_are_evenly_spaced() -> None:
    arrivals = open_loop(4.0, 5, poisson=False)
    assert [a.at for a in arrivals] == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_percentiles() -> None:
    assert percentiles([]) == (None, None, None)
    assert percentiles([2.0]) == (2.0, 2.0, 2.0)
    p50, p95, p99 = percentiles([float(i) for i in range(1, 101)])
    assert (p50, p95, p99) == pytest.approx((50.5, 95.05, 99.01))


def _records() -> list[RequestRecord]:
    return [
        RequestRecord(0, 0.0, 0.3),
        RequestRecord(1, 1.0, 0.3, backend="01"),
        RequestRecord(2, 9.9, 0.4),  # ends after the planned 10 s: not counted as capacity
        RequestRecord(3, 2.0, 1.0, "RateLimitError"),
        RequestRecord(4, 3.0, None, "unfinished"),
    ]


def test_summarize_counts_answers_errors_and_waste() -> None:
    m = summarize(
        approach="balancer",
        scenario="200%",
        records=_records(),
        attempts=Attempts(requests=9, served=3, throttled=5, throttled_early=1, failed=1),
        duration=10.0,
        available=4,
        backends=2,
        window=10.0,
    )
    assert (m.requests, m.answers, m.errors) == (5, 3, 2)
    assert m.answers + m.errors == m.requests
    assert m.error_kinds == (("RateLimitError", 1), ("unfinished", 1))
    assert m.unfinished == 1
    assert m.wasted == 6
    assert m.wasted_per_answer == 2.0
    assert m.capacity_used == 0.5  # 2 answers within 10 s of 4 admitted
    assert m.span == pytest.approx(10.3)
    assert m.max_latency == 0.4
    assert m.mean_latency == pytest.approx(1.0 / 3)
    assert m.attempts_per_answer == 3.0
    assert m.throttled_per_window == pytest.approx(5 / (2 * 1.03))
    assert m.throttled_per_cooldown == 5 / 4  # 4 429s opened a cooldown, 1 came during one


def _run(
    scenario: str, approach: str, *, errors: int = 0, p95: float = 0.3, early: int = 0
) -> Run:
    records = [RequestRecord(i, float(i), p95) for i in range(10)]
    records += [RequestRecord(10 + i, 0.0, 1.0, "APIError") for i in range(errors)]
    m = summarize(
        approach=approach,
        scenario=scenario,
        records=records,
        attempts=Attempts(
            requests=10 + errors, served=10, throttled=errors, throttled_early=early
        ),
        duration=20.0,
        available=10,
        backends=3,
        window=10.0,
    )
    return Run(m, tuple(records), (), ("01", "02", "03"))


def test_targets_are_judged_from_the_numbers() -> None:
    runs = [
        _run(BASELINE, "direct", p95=0.3),
        _run("50%", "balancer"),
        _run("100%", "balancer", errors=2, p95=0.5),
        _run("200%", "balancer"),
    ]
    found = {
        t.text: t for t in targets(runs, Overhead(100, 5, direct_us=500.0, balanced_us=540.0))
    }
    assert found["50% load: zero client-visible errors"].met is True
    assert found["100% load: zero client-visible errors"].met is False
    assert found["100% load: zero client-visible errors"].measured == "2 errors of 12"
    assert found["200% load: at least 95% of total capacity used"].met is True
    p95 = found["100% load: p95 latency at most 1.2x an unthrottled direct call's p95"]
    assert p95.met is False
    assert found["balancer CPU cost per request under 100 µs"].met is True


def test_a_429_sent_during_a_cooldown_fails_the_never_hammer_target() -> None:
    text = "200% load: at most 1 wasted 429 per backend per Retry-After window"
    quiet = {t.text: t for t in targets([_run("200%", "balancer", errors=3)], None)}[text]
    hammer = {t.text: t for t in targets([_run("200%", "balancer", errors=3, early=1)], None)}
    assert quiet.met is True
    assert hammer[text].met is False
    assert hammer[text].measured.startswith("1.50 (1 of 3 429s sent during a cooldown;")


def test_missing_runs_are_reported_as_not_measured() -> None:
    assert {t.met for t in targets([], None)} == {None}


def test_markdown_has_a_table_per_scenario_and_the_verdicts() -> None:
    runs = [_run("50%", "balancer"), _run("50%", "recipe", errors=1)]
    text = markdown(full_setup(), runs, None)
    assert "## 50%: half the total quota" in text
    assert "| recipe | 11 | 10 | 1 (APIError 1) |" in text
    assert "| 200% load: at least 95% of total capacity used | - | not measured |" in text
    assert "**not met**" not in text
