"""Properties of the core on generated input: Retry-After parsing, and selection's exclusions.

A Retry-After is read from whatever a server or a proxy sends, so no header
may make it raise or return a wait that is negative, NaN or infinite. A
request never goes back to a backend it has already tried, whatever the
board's state after any run of verdicts.
"""

from __future__ import annotations

import email.utils
import math
import random
from collections.abc import Callable
from datetime import timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from aoai_fallbacks._classify import Verdict
from aoai_fallbacks._retry_after import parse_retry_after
from aoai_fallbacks.balancer import Balancer, Wait
from aoai_fallbacks.config import larger_tier
from aoai_fallbacks.testing import FakeClock

from ._support import backend, failed, ok, throttled, timeout, unauthorized

HEADER_NAMES = st.one_of(
    st.sampled_from(
        [
            "retry-after-ms",
            "retry-after",
            "Retry-After",
            "x-ratelimit-reset-requests",
            "x-ratelimit-reset-tokens",
        ]
    ),
    st.text(max_size=10),
)
NUMBERS = st.one_of(
    st.integers(-(10**400), 10**400).map(str),
    st.floats().map(repr),
    st.decimals(allow_nan=True).map(str),
)
DURATIONS = st.builds(
    lambda number, unit: f"{number}{unit}",
    st.one_of(st.integers(0, 10**400).map(str), st.floats(0).map(repr)),
    st.sampled_from(["h", "m", "s", "ms", "h1m", "m30s", ""]),
)
HTTP_DATES = st.datetimes(timezones=st.just(timezone.utc)).map(
    lambda when: email.utils.format_datetime(when, usegmt=True)
)
HEADER_VALUES = st.one_of(NUMBERS, DURATIONS, HTTP_DATES, st.text(max_size=30))


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=5),
    st.floats(0, 4e9, allow_nan=False),
)
def test_retry_after_is_none_or_a_finite_wait(headers: dict[str, str], now_wall: float) -> None:
    wait = parse_retry_after(headers, now_wall=now_wall)
    assert wait is None or (isinstance(wait, float) and math.isfinite(wait) and wait >= 0), wait


VERDICTS: st.SearchStrategy[Callable[[], Verdict]] = st.one_of(
    st.builds(
        lambda tokens, requests: lambda: ok(tokens, requests),
        st.none() | st.integers(0, 50_000),
        st.none() | st.integers(0, 100),
    ),
    st.builds(
        lambda wait: lambda: throttled(retry_after_ms=wait),
        st.sampled_from(["0", "1500", "60000", "-1", "soon"]),
    ),
    st.sampled_from([failed, timeout, unauthorized, lambda: failed(500)]),
)


# One request's attempt: the names it excludes (a bit mask over the backends), whether it
# wants the larger tier, its cost, its patience, then its verdict (None: abandoned) and
# the seconds until the next.
STEPS = st.tuples(
    st.integers(0, 2**8 - 1),
    st.booleans(),
    st.integers(0, 20_000),
    st.sampled_from([0.0, 0.5, 30.0, math.inf]),
    st.none() | VERDICTS,
    st.floats(0, 120),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 3), st.floats(0.1, 5), st.booleans()), min_size=1, max_size=4
    ),
    st.integers(0, 2**32),
    st.lists(STEPS, min_size=1, max_size=25),
)
def test_select_never_returns_an_excluded_backend(
    shapes: list[tuple[int, float, bool]],
    seed: int,
    steps: list[tuple[int, bool, int, float, Callable[[], Verdict] | None, float]],
) -> None:
    base = [backend(f"0{i}", priority=p, weight=w) for i, (p, w, _) in enumerate(shapes)]
    large = [
        larger_tier(b, "gpt-4-32k") for b, (_, _, has) in zip(base, shapes, strict=True) if has
    ]
    clock = FakeClock()
    balancer = Balancer(base + large, clock=clock, rng=random.Random(seed))
    names = [b.name for b in balancer.backends]

    for mask, want_large, cost, patience, verdict, seconds in steps:
        exclude = {name for i, name in enumerate(names) if mask >> i & 1}
        choice = balancer.select(exclude=exclude, large=want_large, cost=cost, patience=patience)
        if not isinstance(choice, Wait):
            assert choice.name not in exclude, (choice.name, exclude)
            assert not want_large or choice.tier == "large", choice.name
            if verdict is None:
                balancer.release(choice)
            else:
                balancer.record(choice, verdict())
        clock.advance(seconds)
