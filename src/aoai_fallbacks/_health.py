"""What the balancer knows about one backend, and how each verdict changes it.

Two independent reasons keep a backend out of rotation:

* **cooling**: it answered 429 (or 503 with Retry-After) and asked us to stay
  away until ``cooling_until``. It is healthy, only busy: when the time
  passes it is simply available again.
* **the circuit**: it failed ``failure_threshold`` times in a row (5xx,
  timeouts, refused connections) and is *open* for ``circuit_open_for``; or it
  proved misconfigured (401/403/404) and is *quarantined* for
  ``quarantine_for``. When that time passes it is *half-open*: exactly one
  request at a time is let through as a probe. A success closes the circuit;
  a failure reopens it (a misconfiguration quarantines it again).

A half-open probe answered with 429 closes the circuit and cools the backend:
the service authenticated the request and found the deployment, so it is
working, only busy. Any answer that shows the service processed the request
(2xx, 429, a 400 of the request's own making) also resets the failure count.

A probe whose caller vanished without a verdict (a cancelled task) would hold
the backend half-open forever, so a probe is presumed lost after
``probe_timeout`` and the next caller may probe.

Not thread-safe by itself: `aoai_fallbacks.balancer.Balancer` holds one lock
around every read and write.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from aoai_fallbacks.classify import Outcome, Verdict

__all__ = ["QUOTA_FRESH_FOR", "BackendHealth", "HealthSettings", "State"]

State = Literal["available", "cooling", "open", "half-open", "quarantined"]

QUOTA_FRESH_FOR = 60.0
"""Seconds a remaining-quota header stays meaningful: Azure refills over a minute."""

PROBE_POLL = 0.5
"""Seconds a waiting caller is told to come back when a probe is in flight."""

_NEVER = -math.inf


@dataclass(frozen=True, slots=True)
class HealthSettings:
    """The thresholds every backend's health is judged by (validated by the Balancer)."""

    default_cooldown: float
    max_cooldown: float
    min_cooldown: float
    failure_threshold: int
    circuit_open_for: float
    quarantine_for: float
    probe_timeout: float

    def cooldown(self, retry_after: float | None) -> float:
        """The cooldown to apply for a backend's hint: default when absent, floored and capped."""
        seconds = self.default_cooldown if retry_after is None else retry_after
        return min(max(seconds, self.min_cooldown), self.max_cooldown)


class BackendHealth:
    """One backend's cooldown, circuit, quota and counters."""

    __slots__ = (
        "blocked_until",
        "cooling_until",
        "failed",
        "failures",
        "mode",
        "probe_started",
        "quota_seen",
        "rejected",
        "remaining_requests",
        "remaining_tokens",
        "served",
        "throttled",
    )

    def __init__(self) -> None:
        self.cooling_until = _NEVER
        self.mode: Literal["closed", "open", "quarantined"] = "closed"
        self.blocked_until = _NEVER  # end of "open" or "quarantined"
        self.probe_started: float | None = None  # a half-open probe is out since then
        self.failures = 0  # consecutive
        self.remaining_tokens: int | None = None
        self.remaining_requests: int | None = None
        self.quota_seen = _NEVER
        self.served = 0
        self.throttled = 0
        self.failed = 0
        self.rejected = 0

    # -- reading ---------------------------------------------------------------

    def state(self, now: float) -> State:
        """The state `snapshot()` reports; the circuit outranks a cooldown."""
        if self.mode != "closed":
            if now < self.blocked_until:
                return "open" if self.mode == "open" else "quarantined"
            return "half-open"
        return "cooling" if now < self.cooling_until else "available"

    def usable(self, now: float, probe_timeout: float) -> bool:
        """Whether `select` may hand this backend out now (a free probe slot counts)."""
        if now < self.cooling_until:
            return False
        if self.mode == "closed":
            return True
        if now < self.blocked_until:
            return False
        return self.probe_started is None or now - self.probe_started >= probe_timeout

    def ready_at(self, now: float, probe_timeout: float) -> float:
        """The earliest time this backend may be usable again (`now` if it is)."""
        ready = max(self.cooling_until, now)
        if self.mode != "closed":
            ready = max(ready, self.blocked_until)
            if self.probe_started is not None and ready == now:
                # The probe's verdict may free it any moment; come back soon
                # rather than wait for the probe to be presumed lost.
                lost_at = self.probe_started + probe_timeout
                ready = min(now + PROBE_POLL, lost_at) if lost_at > now else now
        return ready

    def short_of(self, cost: int, now: float) -> bool:
        """Whether its last known quota, seen within a minute, cannot take `cost` more tokens.

        A known zero of remaining requests or tokens counts whatever the cost
        (the caller may not estimate one): the next call would be a 429.
        """
        if now - self.quota_seen >= QUOTA_FRESH_FOR:
            return False
        if self.remaining_requests == 0:
            return True
        return self.remaining_tokens is not None and self.remaining_tokens < max(cost, 1)

    def half_open(self, now: float) -> bool:
        return self.mode != "closed" and now >= self.blocked_until

    def cooldown_remaining(self, now: float) -> float:
        """Seconds until selectable again for a cooldown, an open circuit or a quarantine."""
        until = self.cooling_until
        if self.mode != "closed":
            until = max(until, self.blocked_until)
        return max(until - now, 0.0)

    # -- writing ---------------------------------------------------------------

    def take_probe(self, now: float) -> None:
        """Mark a half-open backend as probed by the caller `select` handed it to."""
        if self.half_open(now):
            self.probe_started = now

    def release_probe(self) -> None:
        """Free the probe slot: its request ended without a verdict."""
        self.probe_started = None

    def record(self, verdict: Verdict, now: float, settings: HealthSettings) -> float | None:
        """Apply one verdict; return the cooldown it started (seconds), if any.

        Returns None too when the verdict changed no cooldown.
        """
        if verdict.remaining_tokens is not None or verdict.remaining_requests is not None:
            self.remaining_tokens = verdict.remaining_tokens
            self.remaining_requests = verdict.remaining_requests
            self.quota_seen = now
        outcome = verdict.outcome
        cooldown: float | None = None
        if outcome is Outcome.SUCCESS:
            self.served += 1
            self._close()
        elif outcome is Outcome.THROTTLED:
            self.throttled += 1
            self._close()
            cooldown = self._cool(settings.cooldown(verdict.retry_after), now)
        elif outcome is Outcome.FAILED:
            self.failed += 1
            self._fail(now, settings)
            if verdict.retry_after is not None:
                cooldown = self._cool(settings.cooldown(verdict.retry_after), now)
        elif outcome is Outcome.MISCONFIGURED:
            self.failed += 1
            self.failures += 1
            self.mode = "quarantined"
            self.blocked_until = now + settings.quarantine_for
            self.probe_started = None
        else:  # CONTEXT_OVERFLOW, REJECTED: the backend did its job on a bad request
            self.rejected += 1
            self._close()
        return cooldown

    def _close(self) -> None:
        self.mode = "closed"
        self.blocked_until = _NEVER
        self.probe_started = None
        self.failures = 0

    def _cool(self, seconds: float, now: float) -> float:
        self.cooling_until = max(self.cooling_until, now + seconds)
        return seconds

    def _fail(self, now: float, settings: HealthSettings) -> None:
        self.failures += 1
        if self.mode == "closed":
            if self.failures >= settings.failure_threshold:
                self._open(now, settings)
        elif now >= self.blocked_until:
            # The half-open probe failed (or a late answer from before the
            # circuit opened arrives after it ended): open again, a new period.
            # A quarantined backend that now fails for other reasons is open.
            self._open(now, settings)
        # Still open: a straggler sent before the circuit opened; nothing new.

    def _open(self, now: float, settings: HealthSettings) -> None:
        self.mode = "open"
        self.blocked_until = now + settings.circuit_open_for
        self.probe_started = None
