"""The balancing transport's own CPU cost per request, without running the whole benchmark.

The same measurement `aoai-fallbacks bench` publishes
(`aoai_fallbacks._cli.bench.overhead.measure_overhead`: openai SDK calls over a
transport that answers from memory, the balancer's own CPU time measured
where it is spent), for quick checks while working on the request path. Run:

    python benchmarks/transport_overhead.py [--calls 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse

from aoai_fallbacks._cli.bench.overhead import measure_overhead


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2_000, help="calls per round and side")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    overhead = measure_overhead(args.calls, rounds=args.rounds)
    print(f"{'direct SDK call':<28}{overhead.direct_us:>10.1f} µs/request")
    print(f"{'through BalancingTransport':<28}{overhead.balanced_us:>10.1f} µs/request")
    print(f"{'balancing overhead':<28}{overhead.added_us:>10.1f} µs/request")


if __name__ == "__main__":
    main()
