"""What the balancer's bookkeeping costs each request: one `select` plus one `record`.

Both run on every attempt's path, under one lock, so they must stay far below
a network round trip (target: well under 100 µs for 3-10 backends). Run:

    python benchmarks/core_overhead.py [--calls 50000]

Scenarios: every backend healthy; a third of them cooling after a 429 (so
selection skips them); quota known and below the request's cost on half of
them (so selection passes them over). Times are the median of five runs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from aoai_fallbacks._classify import Verdict, classify_response
from aoai_fallbacks.balancer import Balancer, Wait
from aoai_fallbacks.config import Backend

OK = classify_response(
    200,
    {"x-ratelimit-remaining-tokens": "90000", "x-ratelimit-remaining-requests": "500"},
    None,
    now_wall=0.0,
)
THROTTLED = classify_response(429, {"retry-after": "3600"}, None, now_wall=0.0)
SHORT = classify_response(200, {"x-ratelimit-remaining-tokens": "10"}, None, now_wall=0.0)


def make(size: int) -> Balancer:
    backends = [
        Backend(
            name=f"{i:02d}",
            endpoint=f"https://aoai-{i:02d}.openai.azure.com",
            deployment="gpt-4o",
            api_key="bench",
            priority=1 + i // 4,
            weight=1.0 + i % 3,
        )
        for i in range(size)
    ]
    return Balancer(backends, rng=random.Random(0), max_cooldown=3600, default_cooldown=3600)


def healthy(balancer: Balancer) -> Verdict:
    return OK


def some_cooling(balancer: Balancer) -> Verdict:
    for backend in balancer.backends[::3]:
        balancer.record(backend, THROTTLED)
    return OK


def some_short(balancer: Balancer) -> Verdict:
    for backend in balancer.backends[::2]:
        balancer.record(backend, SHORT)
    return SHORT  # every answer keeps the chosen backend short: worst case for selection


SCENARIOS: dict[str, Callable[[Balancer], Verdict]] = {
    "all healthy": healthy,
    "1/3 cooling": some_cooling,
    "1/2 short of quota": some_short,
}


def per_call(size: int, scenario: Callable[[Balancer], Verdict], calls: int) -> float:
    """Median microseconds for one select + record."""
    runs = []
    for _ in range(5):
        balancer = make(size)
        verdict = scenario(balancer)
        start = time.perf_counter()
        for _ in range(calls):
            choice = balancer.select(cost=500)
            if not isinstance(choice, Wait):
                balancer.record(choice, verdict)
        runs.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50_000)
    args = parser.parse_args()
    sizes = (3, 5, 10)
    print(f"{'select + record, µs per call':<30}" + "".join(f"{n:>8} bk" for n in sizes))
    for name, scenario in SCENARIOS.items():
        cells = "".join(f"{per_call(n, scenario, args.calls):>11.2f}" for n in sizes)
        print(f"{name:<30}{cells}")


if __name__ == "__main__":
    main()
