"""What the balancing transport itself costs each request, network excluded.

The transport is on every request's path: select, rewrite, classify, record,
rebuild the answer. Its inner transport here answers at once from memory
(`httpx.MockTransport`), so the difference between a client on the balancing
transport and a client on that inner transport alone is our own CPU time per
request. Run:

    python benchmarks/transport_overhead.py [--requests 20000] [--backends 3]

Prints µs per request for both and the difference (the median of five runs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from aoai_fallbacks._http import httpx
from aoai_fallbacks.balancer import Balancer
from aoai_fallbacks.config import Backend
from aoai_fallbacks.transport import BalancingTransport

ANSWER = json.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi!"}}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
    }
).encode()
BODY = json.dumps(
    {"messages": [{"role": "user", "content": "Tell me a joke. " * 20}], "max_tokens": 200}
).encode()


def answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200,
        headers={
            "content-type": "application/json",
            "x-ratelimit-remaining-tokens": "90000",
            "x-ratelimit-remaining-requests": "500",
            "x-request-id": "req-1",
        },
        content=ANSWER,
    )


def per_request(client: httpx.Client, requests: int) -> float:
    """Median µs per POST over five runs."""
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(requests):
            client.post(
                "https://aoai-fallbacks.invalid/openai/deployments/x/chat/completions"
                "?api-version=2024-10-21",
                content=BODY,
                headers={"api-key": "placeholder", "content-type": "application/json"},
            ).read()
        runs.append((time.perf_counter() - start) / requests * 1e6)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--backends", type=int, default=3)
    args = parser.parse_args()
    backends = [
        Backend(
            name=f"{i:02d}",
            endpoint=f"https://aoai-{i:02d}.openai.azure.com",
            deployment="gpt-4o",
            api_key=f"bench-key-{i:02d}",
        )
        for i in range(1, args.backends + 1)
    ]
    inner = httpx.MockTransport(answer)
    with (
        httpx.Client(transport=inner) as alone,
        httpx.Client(transport=BalancingTransport(Balancer(backends), inner=inner)) as balanced,
    ):
        baseline = per_request(alone, args.requests)
        through = per_request(balanced, args.requests)
    print(f"{'inner transport alone':<32}{baseline:>10.1f} µs/request")
    print(f"{'through BalancingTransport':<32}{through:>10.1f} µs/request")
    print(f"{'balancing overhead':<32}{through - baseline:>10.1f} µs/request")


if __name__ == "__main__":
    main()
