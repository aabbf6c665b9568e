"""The proxy's Prometheus metrics: its requests, and the balancer's picture read at each scrape.

Two kinds of series. The proxy's own (requests by status, their duration,
the seconds each waited for a backend) are counted as requests end. The
backends' (attempts by outcome, cooldown left, state, requests in flight,
requests in line) are read from `Balancer.snapshot` when Prometheus scrapes,
so the request path pays nothing for them.

Each worker process counts its own requests and attempts: with several
workers behind one port a scrape reaches one of them (run one worker per
container, each scraped, to see them all). Cooldowns and states are shared
through the Redis store when there is one, so every worker shows them alike.

A balancer counts a stream cut after it started as failed rather than
served, so ``aoai_fallbacks_backend_attempts_total{outcome="served"}`` can
step back by one; Prometheus reads that as a counter reset.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from aoai_fallbacks._health import State
from aoai_fallbacks._telemetry import WAIT_BUCKETS

if TYPE_CHECKING:
    from aoai_fallbacks.balancer import Balancer

__all__ = ["ProxyMetrics"]

PREFIX = "aoai_fallbacks_"
_STATES: tuple[State, ...] = ("available", "cooling", "open", "half-open", "quarantined")
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120)


class ProxyMetrics:
    """The registry `/metrics` exposes, and what the proxy records into it."""

    def __init__(self, balancer: Balancer) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            PREFIX + "proxy_requests",
            "Requests the proxy answered, by HTTP status (499: the client left first)",
            ["code"],
            registry=self.registry,
        )
        self._duration = Histogram(
            PREFIX + "proxy_request_duration_seconds",
            "Seconds from a request's arrival to the end of its answer",
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self._wait = Histogram(
            PREFIX + "wait_seconds",
            "Seconds a balanced request waited for a backend to recover (0: one was free)",
            buckets=WAIT_BUCKETS[1:],  # the histogram's own first bucket starts at 0
            registry=self.registry,
        )
        self.registry.register(_Backends(balancer))

    def request(self, status: int, seconds: float, waited: float | None) -> None:
        """Count one request that ended with `status`, and its wait if it was balanced."""
        self._requests.labels(str(status)).inc()
        self._duration.observe(seconds)
        if waited is not None:
            self._wait.observe(waited)

    def exposition(self, accept: bytes) -> tuple[str, bytes]:
        """(content type, body) in the format the scraper's `accept` header asks for."""
        encoder, content_type = choose_encoder(accept.decode("latin-1"))
        return content_type, encoder(self.registry)


class _Backends(Collector):
    """The balancer's backends, as they stand when scraped."""

    def __init__(self, balancer: Balancer) -> None:
        self._balancer = balancer

    def collect(self) -> Iterator[Metric]:
        attempts = CounterMetricFamily(
            PREFIX + "backend_attempts",
            "Attempts this process sent to each backend, by outcome (throttled: a 429)",
            labels=["backend", "outcome"],
        )
        cooldown = GaugeMetricFamily(
            PREFIX + "backend_cooldown_seconds",
            "Seconds until a backend is tried again (0: available)",
            labels=["backend"],
        )
        state = GaugeMetricFamily(
            PREFIX + "backend_state",
            "1 for the state each backend is in, 0 for the others",
            labels=["backend", "state"],
        )
        in_flight = GaugeMetricFamily(
            PREFIX + "backend_in_flight",
            "Attempts sent to each backend and not answered yet",
            labels=["backend"],
        )
        for status in self._balancer.snapshot():
            name = status.name
            for outcome, count in (
                ("served", status.served),
                ("throttled", status.throttled),
                ("failed", status.failed),
                ("rejected", status.rejected),
            ):
                attempts.add_metric([name, outcome], count)
            cooldown.add_metric([name], status.cooldown_remaining)
            for each in _STATES:
                state.add_metric([name, each], float(each == status.state))
            in_flight.add_metric([name], status.in_flight)
        waiting = GaugeMetricFamily(
            PREFIX + "requests_waiting", "Requests waiting in line for a backend"
        )
        waiting.add_metric([], self._balancer.waiting)
        yield from (attempts, cooldown, state, in_flight, waiting)
