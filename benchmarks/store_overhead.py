"""What sharing through Redis costs each request: latency on its path, and CPU.

A request's path through the balancer is one `select` and one `record`. With
a `RedisStore`, both also hand facts to the store's writer thread; Redis
itself is written and read on other threads. This measures, against a real
`redis-server` on loopback that it starts itself:

* the time of select + record on the request's path, p50 and p99, alone
  and with a store (the latency the store adds);
* the process's CPU per request, every thread included: the writer's
  pipeline and, with a second balancer listening ("a peer"), the listener
  applying every fact the first one told.

Run: python benchmarks/store_overhead.py [--requests 20000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from aoai_fallbacks._classify import classify_response
from aoai_fallbacks._cli.bench.redis_server import RedisServer
from aoai_fallbacks.balancer import Balancer, Wait
from aoai_fallbacks.config import Backend
from aoai_fallbacks.redis_store import RedisStore

BACKENDS = [
    Backend(f"{n:02}", f"https://bench-{n}.openai.azure.com", "gpt-4o", api_key="k" * 32)
    for n in range(1, 4)
]
OK = classify_response(
    200,
    {"x-ratelimit-remaining-requests": "900", "x-ratelimit-remaining-tokens": "90000"},
    None,
    now_wall=0.0,
)


def run(balancer: Balancer, requests: int) -> tuple[list[float], float]:
    """Per-request path times (seconds) and process CPU seconds per request."""
    times: list[float] = []
    cpu = time.process_time()
    for _ in range(requests):
        ticket = balancer.ticket()
        start = time.perf_counter()
        chosen = balancer.select(ticket=ticket, cost=100)
        assert not isinstance(chosen, Wait)
        balancer.record(chosen, OK, ticket)
        times.append(time.perf_counter() - start)
    return times, (time.process_time() - cpu) / requests


def settle(store: RedisStore, peer: Balancer | None, told: int) -> None:
    """Wait until the writer has sent everything (and the peer applied it), so its CPU counts."""
    store.close()  # the writer sends what is queued before it stops
    if peer is not None:
        deadline = time.monotonic() + 30
        while peer.snapshot()[0].quota_age is None and time.monotonic() < deadline:
            time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    n = args.requests
    rows = []
    with RedisServer() as server:
        alone = Balancer(BACKENDS, rng=random.Random(1))
        alone.store = None
        times, cpu = run(alone, n)
        rows.append(("no store", times, cpu))
        for peers in (0, 1):
            store = RedisStore(server.url)
            balancer = Balancer(BACKENDS, rng=random.Random(1), store=store)
            peer_store = RedisStore(server.url) if peers else None
            peer = Balancer(BACKENDS, store=peer_store) if peer_store else None
            cpu_start = time.process_time()
            times, _ = run(balancer, n)
            settle(store, peer, n)
            cpu = (time.process_time() - cpu_start) / n
            if peer_store is not None:
                peer_store.close()
            rows.append((f"RedisStore, {peers} peer{'s' * (peers != 1)} listening", times, cpu))
    print(f"{'':<34}{'path p50':>10}{'path p99':>10}{'CPU/request':>13}")
    for name, times, cpu in rows:
        q = statistics.quantiles(times, n=100)
        print(f"{name:<34}{q[49] * 1e6:>8.1f}µs{q[98] * 1e6:>8.1f}µs{cpu * 1e6:>11.1f}µs")


if __name__ == "__main__":
    main()
