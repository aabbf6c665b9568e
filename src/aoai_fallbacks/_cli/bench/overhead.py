"""The balancer's own CPU cost per request, measured where it is spent.

Network time dwarfs and hides the balancer's cost, so it is measured without
a network: `openai.AzureOpenAI` chat completions go to a transport that
answers at once with a canned completion, either directly or through
`BalancingTransport` wrapped around that same transport.

The balancer's cost is not taken as the difference between the two calls'
totals. A direct SDK call costs about ten times what the balancer adds, so a
few percent of drift between measuring one and measuring the other (another
process sharing the cores, frequency changes, a garbage collection) is as
large as the figure itself: on a busy two-core machine that difference ranged
from 10 to 400 µs from one run to the next. Instead, the CPU time inside the
balancing transport minus the CPU time inside its inner transport is summed
call by call (`time.thread_time`: this thread's, so nothing else running
counts), and the same bracket around a transport that does nothing is
subtracted, so the stopwatches' own cost is not charged to the balancer.
Direct and balanced rounds alternate, and each figure is the median over
rounds.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import openai

    from aoai_fallbacks._http import httpx

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
    """Medians over `rounds` of `calls` chat completions each way (see the module docstring).

    `balanced_us` is the direct call's cost plus the balancer's own, each a
    median, so `added_us` is the balancer's own cost per request.
    """
    import openai

    from aoai_fallbacks._http import httpx
    from aoai_fallbacks.balancer import Balancer
    from aoai_fallbacks.config import Backend
    from aoai_fallbacks.transport import BalancingTransport

    class NoopTransport(httpx.BaseTransport):
        """Answers every request at once with the same completion: no network, no waiting."""

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, headers=_HEADERS, content=_COMPLETION)

    class Stopwatch(httpx.BaseTransport):
        """Passes each request to `inner`, adding the CPU time spent in it to `seconds`."""

        def __init__(self, inner: httpx.BaseTransport) -> None:
            self.inner = inner
            self.seconds = 0.0

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            begin = time.thread_time()
            try:
                return self.inner.handle_request(request)
            finally:
                self.seconds += time.thread_time() - begin

    backends = [
        Backend(f"0{i}", f"https://r{i}.openai.azure.com", "gpt-35-turbo", api_key=f"k{i}")
        for i in (1, 2, 3)
    ]

    def client(transport: Any) -> openai.AzureOpenAI:  # httpx2 at run time, httpx to mypy
        return openai.AzureOpenAI(
            azure_endpoint=backends[0].endpoint,
            api_key="unused",
            api_version=backends[0].api_version,
            max_retries=0,
            http_client=openai.DefaultHttpxClient(transport=transport),
        )

    # The outer stopwatch wraps the balancer, or the inner stopwatch alone:
    # outer minus inner is then the balancer's own time, or the stopwatches'.
    sides = []
    for middle in ("direct", "balanced"):
        inner = Stopwatch(NoopTransport())
        below = (
            inner if middle == "direct" else BalancingTransport(Balancer(backends), inner=inner)
        )
        outer = Stopwatch(below)
        sides.append((client(outer), outer, inner))

    def run(sdk: openai.AzureOpenAI, outer: Stopwatch, inner: Stopwatch) -> tuple[float, float]:
        """CPU µs per call: the whole call, and the part spent between `outer` and `inner`."""
        outer.seconds = inner.seconds = 0.0
        begin = time.thread_time()
        for _ in range(calls):
            _complete(sdk)
        total = time.thread_time() - begin
        return total / calls * 1e6, (outer.seconds - inner.seconds) / calls * 1e6

    try:
        for sdk, _, _ in sides:  # warm caches and lazy imports first
            for _ in range(min(calls, 100)):
                _complete(sdk)
        direct_us, added_us = [], []
        for round_ in range(rounds):
            # Alternate the order, so neither side always runs on a warmer cache.
            measured = {
                side: run(*sides[side]) for side in ((0, 1) if round_ % 2 == 0 else (1, 0))
            }
            (total, stopwatches), (_, own) = measured[0], measured[1]
            direct_us.append(total - stopwatches)
            added_us.append(own - stopwatches)
        direct_median = statistics.median(direct_us)
        return Overhead(calls, rounds, direct_median, direct_median + statistics.median(added_us))
    finally:
        for sdk, _, _ in sides:
            sdk.close()


def _complete(sdk: openai.AzureOpenAI) -> None:
    sdk.chat.completions.create(
        model="gpt-35-turbo",
        messages=[{"role": "user", "content": "Tell me a joke about parrots."}],
        max_tokens=60,
    )
