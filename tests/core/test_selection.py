"""Selection: priority groups, weights, quota pass-over, the larger tier, and exact waits."""

from __future__ import annotations

import collections

import pytest

from aoai_fallbacks.balancer import Balancer, Wait
from aoai_fallbacks.testing import FakeClock

from ._support import backend, names, ok, pick, throttled
from .conftest import MakeBalancer


def test_lowest_priority_number_always_wins(make_balancer: MakeBalancer) -> None:
    balancer = make_balancer(
        [backend("01", priority=2), backend("02", priority=1), backend("03", priority=3)]
    )
    assert names(balancer, 500) == {"02"}


def test_next_group_only_when_the_first_is_unavailable(make_balancer: MakeBalancer) -> None:
    balancer = make_balancer(
        [backend("ptu", priority=1), backend("s0-a", priority=2), backend("s0-b", priority=2)]
    )
    ptu = balancer.backends[0]
    balancer.record(ptu, throttled(retry_after="5"))
    assert names(balancer, 500) == {"s0-a", "s0-b"}


def test_weights_are_respected_within_a_group(make_balancer: MakeBalancer) -> None:
    weights = {"01": 1.0, "02": 2.0, "03": 7.0}
    balancer = make_balancer([backend(n, weight=w) for n, w in weights.items()])
    draws = 20_000
    counts = collections.Counter(pick(balancer) for _ in range(draws))
    for name, weight in weights.items():
        assert counts[name] / draws == pytest.approx(weight / 10, abs=0.015), counts


def test_equal_weights_spread_traffic(make_balancer: MakeBalancer) -> None:
    balancer = make_balancer([backend("01"), backend("02"), backend("03")])
    counts = collections.Counter(pick(balancer) for _ in range(9_000))
    assert all(2_700 < counts[n] < 3_300 for n in ("01", "02", "03")), counts


def test_same_seed_same_choices(clock: FakeClock) -> None:
    import random

    from aoai_fallbacks.balancer import Balancer

    def run(seed: int) -> list[str]:
        balancer = Balancer(
            [backend("01"), backend("02"), backend("03")], clock=clock, rng=random.Random(seed)
        )
        return [pick(balancer) for _ in range(50)]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_backend_short_of_tokens_is_passed_over(make_balancer: MakeBalancer) -> None:
    balancer = make_balancer([backend("01"), backend("02"), backend("03", priority=2)])
    first = balancer.backends[0]
    balancer.record(first, ok(tokens=100, requests=50))
    assert names(balancer, 300, cost=500) == {"02"}
    assert names(balancer, 300, cost=50) == {"01", "02"}


def test_backend_short_of_tokens_is_still_used_when_alone_in_its_group(
    make_balancer: MakeBalancer,
) -> None:
    balancer = make_balancer([backend("01"), backend("02", priority=2)])
    first = balancer.backends[0]
    balancer.record(first, ok(tokens=100))
    assert pick(balancer, cost=500) == "01"  # a probe: the quota may have refilled
    # While it is out, the next priority group has room: no one waits.
    assert names(balancer, 100, cost=500) == {"02"}
    balancer.record(first, ok(tokens=100))
    assert pick(balancer, cost=500) == "01"


def test_all_short_uses_them_anyway(make_balancer: MakeBalancer) -> None:
    balancer = make_balancer([backend("01"), backend("02")])
    for b in balancer.backends:
        balancer.record(b, ok(tokens=10))
    # One probe each, then a wait for their verdicts rather than a pile of 429s.
    assert names(balancer, 300, cost=500) == {"01", "02", "wait"}


def test_no_requests_left_is_passed_over(make_balancer: MakeBalancer) -> None:
    balancer = make_balancer([backend("01"), backend("02")])
    balancer.record(balancer.backends[0], ok(tokens=50_000, requests=0))
    assert names(balancer, 300) == {"02"}


def test_no_tokens_left_is_passed_over_even_without_a_cost(make_balancer: MakeBalancer) -> None:
    balancer = make_balancer([backend("01"), backend("02")])
    balancer.record(balancer.backends[0], ok(tokens=0, requests=100))
    assert names(balancer, 300) == {"02"}


def test_quota_knowledge_expires_after_a_minute(
    make_balancer: MakeBalancer, clock: FakeClock
) -> None:
    balancer = make_balancer([backend("01"), backend("02")])
    balancer.record(balancer.backends[0], ok(tokens=100))
    clock.advance(59)
    assert names(balancer, 300, cost=500) == {"02"}
    clock.advance(1)
    assert names(balancer, 300, cost=500) == {"01", "02"}


def test_unknown_quota_is_not_short(make_balancer: MakeBalancer) -> None:
    balancer = make_balancer([backend("01"), backend("02")])
    balancer.record(balancer.backends[0], ok())
    assert names(balancer, 300, cost=10**9) == {"01", "02"}


def with_large_tier(make_balancer: MakeBalancer) -> Balancer:
    return make_balancer(
        [
            backend("01"),
            backend("02", priority=2),
            backend("01-large", deployment="gpt-4-32k", tier="large"),
        ]
    )


def test_larger_tier_only_after_the_base_tier(
    make_balancer: MakeBalancer, clock: FakeClock
) -> None:
    balancer = with_large_tier(make_balancer)
    base1, base2, _ = balancer.backends
    assert names(balancer, 300, give_back=True) == {"01"}
    balancer.record(base1, throttled(retry_after="10"))
    assert names(balancer, 300, give_back=True) == {"02"}
    balancer.record(base2, throttled(retry_after="20"))
    assert names(balancer, 300, give_back=True) == {"01-large"}
    clock.advance(10)
    assert pick(balancer) == "01"  # its probe, after the cooldown
    assert names(balancer, 300) == {"01-large"}  # while the probe is out
    balancer.record(base1, ok())
    assert names(balancer, 300) == {"01"}


def test_larger_tier_when_the_base_tier_is_excluded(make_balancer: MakeBalancer) -> None:
    balancer = with_large_tier(make_balancer)
    assert names(balancer, 100, exclude={"01", "02"}) == {"01-large"}


def test_large_goes_straight_to_the_larger_tier(make_balancer: MakeBalancer) -> None:
    balancer = with_large_tier(make_balancer)
    assert names(balancer, 100, large=True) == {"01-large"}


def test_large_waits_for_the_larger_tier_not_the_base(make_balancer: MakeBalancer) -> None:
    balancer = with_large_tier(make_balancer)
    balancer.record(balancer.backends[2], throttled(retry_after="8"))
    assert balancer.select(large=True) == Wait(8.0)
    assert pick(balancer) == "01"


def test_large_without_a_larger_tier_has_nothing(make_balancer: MakeBalancer) -> None:
    balancer = make_balancer([backend("01")])
    assert balancer.select(large=True) == Wait(None)


def test_wait_is_the_time_to_the_earliest_recovery(
    make_balancer: MakeBalancer, clock: FakeClock
) -> None:
    balancer = make_balancer([backend("01"), backend("02"), backend("03", priority=2)])
    for b, seconds in zip(balancer.backends, ("7", "3", "5"), strict=True):
        balancer.record(b, throttled(retry_after=seconds))
    assert balancer.select() == Wait(3.0)
    clock.advance(1)
    assert balancer.select() == Wait(2.0)
    assert balancer.select(exclude={"02"}) == Wait(4.0)
    clock.advance(2)
    assert pick(balancer) == "02"


def test_wait_none_when_everything_is_excluded(make_balancer: MakeBalancer) -> None:
    balancer = make_balancer([backend("01"), backend("02")])
    balancer.record(balancer.backends[1], throttled(retry_after="3"))
    assert balancer.select(exclude={"01", "02"}) == Wait(None)
    assert balancer.select(exclude={"01"}) == Wait(3.0)


def test_exclude_skips_failed_backends(make_balancer: MakeBalancer) -> None:
    balancer = make_balancer([backend("01"), backend("02"), backend("03")])
    assert names(balancer, 300, exclude=("01", "03")) == {"02"}
