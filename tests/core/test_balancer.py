"""The Balancer as a whole: options, snapshot, secrecy, and many threads at once."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import random
import threading
from collections import Counter
from typing import Any

import pytest

from aoai_fallbacks._classify import Outcome
from aoai_fallbacks.balancer import BackendStatus, Balancer, Wait
from aoai_fallbacks.errors import ConfigError
from aoai_fallbacks.testing import FakeClock

from ._support import SECRET, backend, failed, ok, throttled, timeout, unauthorized
from .conftest import MakeBalancer


@pytest.mark.parametrize(
    "options",
    [
        {"wait_budget": -1},
        {"wait_budget": math.nan},
        {"wait_budget": "30"},
        {"attempt_timeout": 0},
        {"attempt_timeout": -5},
        {"attempt_timeout": math.inf},
        {"default_cooldown": -1},
        {"max_cooldown": 0},
        {"default_cooldown": 90, "max_cooldown": 60},
        {"min_cooldown": 20, "default_cooldown": 10},
        {"failure_threshold": 0},
        {"failure_threshold": 2.5},
        {"failure_threshold": True},
        {"circuit_open_for": 0},
        {"quarantine_for": -1},
        {"max_attempts": 0},
        {"max_attempts": 2.0},
        {"max_attempts": False},
        {"connect_timeout": 0},
        {"connect_timeout": math.inf},
    ],
)
def test_bad_options_are_refused(make_balancer: MakeBalancer, options: dict[str, Any]) -> None:
    name = next(iter(options))
    with pytest.raises(ConfigError, match=name):
        make_balancer([backend("01")], **options)


def test_edge_options_are_accepted(make_balancer: MakeBalancer) -> None:
    balancer = make_balancer(
        [backend("01")], wait_budget=0, attempt_timeout=None, connect_timeout=None, max_attempts=1
    )
    assert (
        balancer.wait_budget,
        balancer.attempt_timeout,
        balancer.connect_timeout,
        balancer.max_attempts,
    ) == (0.0, None, None, 1)
    assert make_balancer([backend("01")], wait_budget=math.inf).wait_budget == math.inf


def test_defaults_match_the_documented_interface() -> None:
    balancer = Balancer([backend("01")])
    assert (balancer.wait_budget, balancer.attempt_timeout, balancer.connect_timeout) == (
        30.0,
        60.0,
        10.0,
    )
    assert balancer.max_attempts == 10  # three per backend, at least 10
    assert Balancer([backend(f"{n:02d}") for n in range(5)]).max_attempts == 15
    assert balancer.backends == (backend("01"),)


def test_backends_are_checked(make_balancer: MakeBalancer) -> None:
    with pytest.raises(ConfigError, match="no backends"):
        make_balancer([])
    with pytest.raises(ConfigError, match="'01'"):
        make_balancer([backend("01"), backend("01", endpoint="https://other.openai.azure.com")])


def test_backends_default_to_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in [n for n in os.environ if n.startswith("AOAI_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AOAI_ENDPOINT_01", "https://one.openai.azure.com")
    monkeypatch.setenv("AOAI_KEY_01", SECRET)
    monkeypatch.setenv("AOAI_ENDPOINT_02", "https://two.openai.azure.com")
    monkeypatch.setenv("AOAI_KEY_02", SECRET)
    monkeypatch.setenv("AOAI_DEPLOYMENT", "gpt-4o")
    balancer = Balancer(clock=FakeClock())
    assert [(b.name, b.deployment) for b in balancer.backends] == [
        ("01", "gpt-4o"),
        ("02", "gpt-4o"),
    ]


def test_recording_a_stranger_is_an_error(make_balancer: MakeBalancer) -> None:
    balancer = make_balancer([backend("01")])
    with pytest.raises(ValueError, match="'99'"):
        balancer.record(backend("99"), ok())


def test_snapshot_reports_state_counts_and_quota(
    make_balancer: MakeBalancer, clock: FakeClock
) -> None:
    balancer = make_balancer(
        [
            backend("01", deployment="gpt-4o", priority=1, weight=3),
            backend("02"),
            backend("03"),
            backend("01-large", deployment="gpt-4-32k", tier="large"),
        ],
        failure_threshold=1,
    )
    one, two, three, _ = balancer.backends
    balancer.record(one, ok(tokens=9000, requests=50))
    balancer.record(one, ok(tokens=8000, requests=49))
    clock.advance(2)
    balancer.record(one, throttled(retry_after="7"))
    balancer.record(two, failed(500))
    balancer.record(three, unauthorized())
    clock.advance(1)
    first, second, third, large = balancer.snapshot()
    assert first == BackendStatus(
        name="01",
        deployment="gpt-4o",
        endpoint="https://aoai-01.openai.azure.com",
        tier="base",
        pool="chat",
        priority=1,
        weight=3,
        state="cooling",
        cooldown_remaining=6.0,
        served=2,
        throttled=1,
        failed=0,
        rejected=0,
        remaining_tokens=8000,
        remaining_requests=49,
        quota_age=3.0,
        reason="429",
    )
    assert (second.state, second.failed, second.cooldown_remaining, second.reason) == (
        "open",
        1,
        29.0,
        "500",
    )
    assert (third.state, third.failed, third.cooldown_remaining, third.reason) == (
        "quarantined",
        1,
        299.0,
        "401",
    )
    assert (large.state, large.tier, large.quota_age, large.served, large.reason) == (
        "available",
        "large",
        None,
        0,
        None,
    )
    assert [s.in_flight for s in balancer.snapshot()] == [0, 0, 0, 0]
    balancer.select(large=True)
    assert [s.in_flight for s in balancer.snapshot()] == [0, 0, 0, 1]
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.served = 0  # type: ignore[misc]


def test_keys_appear_in_no_repr_snapshot_or_log(
    make_balancer: MakeBalancer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="aoai_fallbacks"):
        balancer = make_balancer([backend("01"), backend("02")], failure_threshold=1)
        one, two = balancer.backends
        balancer.record(one, unauthorized())
        balancer.record(two, failed(503))
        texts = [repr(balancer), str(balancer), repr(balancer.snapshot()), caplog.text]
        texts += [str(dataclasses.asdict(s)) for s in balancer.snapshot()]
    assert caplog.records  # something was logged, and checked
    for text in texts:
        assert SECRET not in text
    assert "01 (gpt-35-turbo)" in repr(balancer)


def test_threads_hammering_select_and_record_lose_nothing(clock: FakeClock) -> None:
    balancer = Balancer(
        [backend(f"{i:02d}", priority=1 + i % 2) for i in range(6)],
        clock=clock,
        rng=random.Random(5),
        failure_threshold=2,
        circuit_open_for=1,
        default_cooldown=0.5,
    )
    verdicts = [ok(tokens=100), ok(), throttled(), failed(), timeout(), ok(requests=3)]
    recorded: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        mine: Counter[str] = Counter()
        start.wait()
        for _ in range(2_000):
            choice = balancer.select(cost=rng.choice([0, 50, 500]))
            if isinstance(choice, Wait):
                mine["wait"] += 1
                clock.advance(choice.seconds or 0.1)
                continue
            verdict = rng.choice(verdicts)
            balancer.record(choice, verdict)
            mine[verdict.outcome.value] += 1
        with lock:
            recorded.update(mine)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    snapshot = balancer.snapshot()
    assert sum(recorded.values()) == 8 * 2_000
    assert sum(s.served for s in snapshot) == recorded[Outcome.SUCCESS.value]
    assert sum(s.throttled for s in snapshot) == recorded[Outcome.THROTTLED.value]
    assert sum(s.failed for s in snapshot) == recorded[Outcome.FAILED.value]
    assert recorded[Outcome.SUCCESS.value] > 0
    assert recorded[Outcome.FAILED.value] > 0


def test_a_half_open_backend_goes_to_exactly_one_of_many_threads(
    make_balancer: MakeBalancer, clock: FakeClock
) -> None:
    balancer = make_balancer([backend("01")], failure_threshold=1, circuit_open_for=10)
    balancer.record(balancer.backends[0], failed(500))
    clock.advance(10)
    start = threading.Barrier(16)
    results: list[object] = []

    def worker() -> None:
        start.wait()
        choice = balancer.select()
        results.append(choice)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 16
    assert sum(not isinstance(r, Wait) for r in results) == 1
