"""The balancer's own CPU cost per request, measured in-process against a no-op transport.

Network time dwarfs and hides the balancer's cost, so it is measured without
a network: the same `openai.AzureOpenAI` call goes once straight to a
transport that answers at once with a canned completion, and once through
`BalancingTransport` wrapped around that same transport. The difference in
CPU time (this thread's, so the emulator or anything else running does not
count) is what the balancer adds to each request: selection, rewriting,
classification and bookkeeping.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Overhead", "measure_overhead"]

_COMPLETION = json.dumps(
    {
        "id": "chatcmpl-noop",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-35-turbo",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "Why did the parrot..."},
            }
        ],
        "usage": {"prompt_tokens": 14, "completion_tokens": 6, "total_tokens": 20},
    }
).encode()
_HEADERS = {
    "content-type": "application/json",
    "x-ratelimit-remaining-requests": "999",
    "x-ratelimit-remaining-tokens": "999000",
    "x-request-id": "noop",
}


@dataclass(frozen=True)
class Overhead:
    """CPU microseconds per request, direct and through the balancer, and what the balancer adds."""

    calls: int
    rounds: int
    direct_us: float
    balanced_us: float

    @property
    def added_us(self) -> float:
        return self.balanced_us - self.direct_us

    @property
    def ratio(self) -> float:
        return self.balanced_us / self.direct_us


def measure_overhead(calls: int = 2_000, *, rounds: int = 5) -> Overhead:
    """Median over `rounds` of the CPU time of `calls` chat completions each way."""
    import openai

    from aoai_fallbacks._http import httpx
    from aoai_fallbacks.balancer import Balancer
    from aoai_fallbacks.config import Backend
    from aoai_fallbacks.transport import BalancingTransport

    class NoopTransport(httpx.BaseTransport):
        """Answers every request at once with the same completion: no network, no waiting."""

        def handle_request(self, request: Any) -> Any:
            return httpx.Response(200, headers=_HEADERS, content=_COMPLETION)

    backends = [
        Backend(f"0{i}", f"https://r{i}.openai.azure.com", "gpt-35-turbo", api_key=f"k{i}")
        for i in (1, 2, 3)
    ]

    def client(transport: Any) -> openai.AzureOpenAI:
        return openai.AzureOpenAI(
            azure_endpoint=backends[0].endpoint,
            api_key="unused",
            api_version=backends[0].api_version,
            max_retries=0,
            http_client=openai.DefaultHttpxClient(transport=transport),
        )

    direct = client(NoopTransport())
    balanced = client(BalancingTransport(Balancer(backends), inner=NoopTransport()))

    def per_call(sdk: openai.AzureOpenAI) -> Callable[[], None]:
        def call() -> None:
            sdk.chat.completions.create(
                model="gpt-35-turbo",
                messages=[{"role": "user", "content": "Tell me a joke about parrots."}],
                max_tokens=60,
            )

        return call

    def cpu_us(call: Callable[[], None]) -> float:
        for _ in range(min(calls, 100)):  # warm caches and lazy imports first
            call()
        samples = []
        for _ in range(rounds):
            begin = time.thread_time()
            for _ in range(calls):
                call()
            samples.append((time.thread_time() - begin) / calls * 1e6)
        return statistics.median(samples)

    try:
        return Overhead(calls, rounds, cpu_us(per_call(direct)), cpu_us(per_call(balanced)))
    finally:
        direct.close()
        balanced.close()
