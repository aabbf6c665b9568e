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

A timeout waiting for an answer is a failure only while nothing shows the
backend alive: once it has answered a request sent *after* the one that
timed out, it is working, only slow on that one (a long generation), and its
circuit is left alone. A backend that hangs answers nothing and opens its
circuit as before.

A probe whose caller vanished without a verdict (a cancelled task) would hold
the backend half-open forever, so a probe is presumed lost after
``probe_timeout`` and the next caller may probe.

**The gate** (against the thundering herd). The same one-at-a-time rule also
guards a *closed* backend that is likely to refuse the next request:

* after a cooldown ends, until a success: Azure frees a sliding window one
  charge at a time and its Retry-After is the time until *one* request fits,
  so a crowd woken by the same cooldown would get one answer and a 429 each;
* while its last known remaining requests (or tokens, for this request's
  cost), minus the requests still in flight to it, leave no room.

A gated backend takes a request (the probe) only when none is in flight to
it, and then no other until a verdict comes back: a success that shows room
opens it fully, a 429 cools it again for its exact Retry-After. So the slot
is the board's count of requests in flight: a request handed out by
`select` is in flight until its verdict is recorded or it is released. A backend that reports no quota headers is
never gated by quota, only after a cooldown.

Why every request in flight is subtracted, not only those sent since the
observation: when a request is charged is not known. Azure charges on
arrival, but a gateway that queues, or a server that admits a request only
when work on it starts, reports counts that leave out requests sent before
the answer that carried them. Counting all of them as uncharged never
overestimates the room; when it underestimates
(a busy backend close to its limit), the cost is one probe's round trip,
whose answer comes back with nothing else in flight and so is exact.

Not thread-safe by itself: `aoai_fallbacks.balancer.Balancer` holds one lock
around every read and write.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass
from typing import Literal

from aoai_fallbacks._classify import Outcome, Verdict
from aoai_fallbacks._window import Window

__all__ = ["NEVER_ARRIVED", "QUOTA_FRESH_FOR", "BackendHealth", "HealthSettings", "State"]

State = Literal["available", "cooling", "open", "half-open", "quarantined"]

QUOTA_FRESH_FOR = 60.0
"""Seconds a remaining-quota header stays meaningful: Azure refills over a minute."""

PROBE_POLL = (0.1, 0.4)
"""Bounds of the seconds a caller is told to come back after while a probe is out.

Drawn at random per caller (seeded), so waiters look again one after another
instead of all at once; short, since a probe's verdict may come any moment.
"""

NEVER_ARRIVED = frozenset({"connect", "connect timeout"})
"""Failure reasons of an attempt that never reached the backend: nothing was charged."""

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
        "after_cooldown",
        "blocked_until",
        "cause",
        "claimed_until",
        "cooling_until",
        "failed",
        "failures",
        "heard_from",
        "last_settled",
        "mode",
        "pending",
        "pending_tokens",
        "probe_at",
        "quota_seen",
        "rejected",
        "remaining_requests",
        "remaining_tokens",
        "served",
        "throttled",
        "window",
    )

    def __init__(self) -> None:
        self.cooling_until = _NEVER
        self.after_cooldown = False  # cooled since its last success: gated once the cooldown ends
        self.mode: Literal["closed", "open", "quarantined"] = "closed"
        self.blocked_until = _NEVER  # end of "open" or "quarantined"
        self.failures = 0  # consecutive
        self.cause: str | None = None  # the reason of the verdict that last took it out
        self.heard_from = _NEVER  # send time of the newest request it answered (it works)
        self.remaining_tokens: int | None = None
        self.remaining_requests: int | None = None
        self.quota_seen = _NEVER
        # (handed out at, cost) of each request still in flight, oldest first:
        # requests the remaining counts may not include yet.
        self.pending: deque[tuple[float, int]] = deque()
        self.pending_tokens = 0
        self.last_settled: tuple[float, int] | None = None  # (sent, cost) of the last settled
        # Shared through a store: another balancer probes it until then; our probe's send time.
        self.claimed_until = _NEVER
        self.probe_at: float | None = None
        self.window = Window()  # the learned request window: when each slot frees
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

    def selectable(self, now: float) -> bool:
        """Neither cooling nor behind an open circuit or a quarantine (it may still be gated)."""
        return now >= self.cooling_until and (self.mode == "closed" or now >= self.blocked_until)

    def recovering(self) -> bool:
        """Out of an open circuit, or of a cooldown with its window unknown, without a success yet.

        Gated, whatever its quota. Once the window is learned it says how many
        requests a backend just out of a cooldown can take, so no gate is needed.
        """
        return self.mode != "closed" or (self.after_cooldown and self.window.capacity is None)

    def probe_free(self, now: float, probe_timeout: float) -> bool:
        """Nothing is in flight to it, or all that is, is presumed lost; and no other
        balancer sharing a store holds its probe."""
        if now < self.claimed_until:
            return False
        return not self.pending or now - self.pending[-1][0] >= probe_timeout

    def ready_at(self, now: float) -> float:
        """When a cooldown, an open circuit or a quarantine ends (`now` if none runs)."""
        ready = max(self.cooling_until, now)
        if self.mode != "closed":
            ready = max(ready, self.blocked_until)
        return ready

    def probe_back(self, now: float, probe_timeout: float, poll: float) -> float:
        """When to look again while a request is in flight to this gated backend:
        after `poll` (its verdict may free it any moment), unless it is presumed
        lost sooner (or another balancer's claim on its probe expires)."""
        lost_at = self.claimed_until
        if self.pending:
            lost_at = max(lost_at, self.pending[-1][0] + probe_timeout)
        return min(now + poll, lost_at) if lost_at > now else now

    def short_of(self, cost: int, now: float) -> bool:
        """Whether it cannot take `cost` more tokens, by what is known.

        The last remaining-tokens seen within a minute, less the tokens of the
        requests in flight (the backend may not have counted them yet, see
        the module's docstring). Requests are the learned window's
        (`aoai_fallbacks._window`).
        """
        if now - self.quota_seen >= QUOTA_FRESH_FOR:
            return False
        tokens = self.remaining_tokens
        return tokens is not None and tokens - self.pending_tokens < max(cost, 1)

    def half_open(self, now: float) -> bool:
        return self.mode != "closed" and now >= self.blocked_until

    def cooldown_remaining(self, now: float) -> float:
        """Seconds until selectable again for a cooldown, an open circuit or a quarantine."""
        until = self.cooling_until
        if self.mode != "closed":
            until = max(until, self.blocked_until)
        return max(until - now, 0.0)

    # -- writing ---------------------------------------------------------------

    def take(self, cost: int, now: float, probe_timeout: float, *, trial: bool = False) -> float:
        """Count one request handed out by `select` as in flight, and in its window.

        Entries older than `probe_timeout` (an attempt's whole timeout) are
        dropped first: their callers vanished without a verdict, and a leak
        must not keep the backend gated for ever. `trial`: the request asks
        at the 1 s window's pace (`Window.may_try_short`). Returns the time the
        request is known by (`Window.charge`).
        """
        pending = self.pending
        while pending and now - pending[0][0] >= probe_timeout:
            self.pending_tokens -= pending.popleft()[1]
        sent = self.window.charge(now)
        pending.append((sent, cost))
        self.pending_tokens += cost
        if trial:
            self.window.trial = sent
        return sent

    def release(self, sent_at: float | None = None) -> None:
        """A request handed out ended without a verdict: it is no longer in flight.

        It may have been charged, so it stays in the window (a trial is over).
        """
        sent = self._settle(sent_at)
        if sent is not None and self.window.trial == sent:
            self.window.trial = None

    def untake(self, sent_at: float) -> None:
        """A request handed out was not sent after all: neither in flight nor in the window."""
        self._settle(sent_at)
        self.window.refund(sent_at)
        if self.window.trial == sent_at:
            self.window.trial = None

    def _settle(self, sent_at: float | None) -> float | None:
        """One request in flight came back: the one sent at `sent_at`, if known, else the
        oldest (answers come back roughly in the order sent). Its send time, if any.

        `last_settled` says which it was, and its cost (None if none was in flight).
        """
        self.last_settled = None
        pending = self.pending
        if not pending:
            return sent_at
        if sent_at is not None:
            for index, (at, cost) in enumerate(pending):
                if at == sent_at:
                    del pending[index]
                    self.pending_tokens -= cost
                    self.last_settled = at, cost
                    return at
            return sent_at  # presumed lost already, and dropped
        at, cost = pending.popleft()
        self.pending_tokens -= cost
        self.last_settled = at, cost
        return at

    # -- what other balancers tell (`aoai_fallbacks._store`), on this clock -----

    def told_sent(self, at: float, cost: int, *, in_flight: bool = True) -> None:
        """Another balancer sent it a request at `at`: it holds a slot, and is in flight."""
        self.window.insert(at)
        if in_flight and (at, cost) not in self.pending:
            bisect.insort(self.pending, (at, cost))
            self.pending_tokens += cost

    def told_settled(self, at: float, cost: int, charged: bool) -> None:
        """Another balancer's request sent at `at` was answered (a probe's among them)."""
        try:
            self.pending.remove((at, cost))
        except ValueError:
            pass  # never heard of, or presumed lost already
        else:
            self.pending_tokens -= cost
        if not charged:
            self.window.refund(at)
        self.claimed_until = _NEVER

    def told_cooled(self, until: float, cause: str) -> None:
        """Another balancer saw it throttled: cooling until `until`, at least."""
        if until > self.cooling_until:
            self.cooling_until = until
            self.after_cooldown = True
            self.cause = cause

    def told_blocked(self, mode: Literal["open", "quarantined"], until: float, cause: str) -> None:
        """Another balancer opened its circuit or quarantined it."""
        if self.mode == "closed" or until > self.blocked_until:
            self.mode = mode
            self.blocked_until = until
            self.cause = cause

    def told_healthy(self, now: float) -> None:
        """Another balancer had a success: its circuit is closed, its gate open."""
        self._close()
        if now >= self.cooling_until:
            self.after_cooldown = False
        self.claimed_until = _NEVER

    def told_quota(self, tokens: int | None, requests: int | None, at: float) -> None:
        """Another balancer read its remaining quota at `at`: kept if the newest."""
        if at > self.quota_seen:
            self.remaining_tokens, self.remaining_requests, self.quota_seen = tokens, requests, at

    def record(
        self,
        verdict: Verdict,
        now: float,
        settings: HealthSettings,
        sent_at: float | None = None,
    ) -> float | None:
        """Apply one verdict on the request sent at `sent_at`; return the cooldown it started.

        Returns None when the verdict changed no cooldown. Without `sent_at`,
        the oldest request in flight is taken to be the one answered (or, with
        none in flight, one sent just now).
        """
        settled = self._settle(sent_at)
        sent = now if settled is None else settled
        self._learn_window(verdict, now, sent)
        if verdict.remaining_tokens is not None or verdict.remaining_requests is not None:
            self.remaining_tokens = verdict.remaining_tokens
            self.remaining_requests = verdict.remaining_requests
            self.quota_seen = now
        outcome = verdict.outcome
        if outcome not in (Outcome.FAILED, Outcome.MISCONFIGURED):  # the service worked on it
            self.heard_from = max(self.heard_from, sent)
        cooldown: float | None = None
        if outcome is Outcome.SUCCESS:
            self.served += 1
            self._close()
            if now >= self.cooling_until:  # not a straggler sent before the 429 that cools it
                self.after_cooldown = False
        elif outcome is Outcome.THROTTLED:
            self.throttled += 1
            self._close()
            cooldown = self._cool(settings.cooldown(self._throttled_for(verdict, now)), now)
            self.cause = verdict.reason
        elif outcome is Outcome.FAILED:
            self.failed += 1
            if not (verdict.reason == "timeout" and self.heard_from > sent):  # else only slow
                cooldown = self._failed(verdict, now, settings)
        elif outcome is Outcome.MISCONFIGURED:
            self.failed += 1
            self.failures += 1
            self.mode = "quarantined"
            self.blocked_until = now + settings.quarantine_for
            self.cause = verdict.reason
        else:  # CONTEXT_OVERFLOW, REJECTED: the backend did its job on a bad request
            self.rejected += 1
            self._close()
        return cooldown

    def interrupted(self, verdict: Verdict, now: float, settings: HealthSettings) -> float | None:
        """A request already recorded as served failed after all: a stream cut mid-way.

        It counts as failed instead, with the failure and cooldown of
        `verdict`. It left the board's requests in flight when its first
        chunk was recorded, so nothing is settled here: settling again would
        take another request's place. Returns the cooldown it started.
        """
        self.served -= 1
        self.failed += 1
        return self._failed(verdict, now, settings)

    def _failed(self, verdict: Verdict, now: float, settings: HealthSettings) -> float | None:
        """Count a failure toward the circuit; cool for the verdict's hint, if any."""
        self._fail(now, settings)
        self.cause = verdict.reason
        if verdict.retry_after is None:
            return None
        return self._cool(settings.cooldown(verdict.retry_after), now)

    def _learn_window(self, verdict: Verdict, now: float, sent: float) -> None:
        window = self.window
        outcome = verdict.outcome
        unsure = sum(1 for at, _ in self.pending if at < sent)  # sent before it, unanswered
        if outcome is Outcome.THROTTLED:
            requests = verdict.remaining_requests
            if requests is not None and requests > 0:  # the token limit refused it
                window.refund(sent)
            else:
                window.refused(
                    sent, now, verdict.retry_after, exact=verdict.retry_exact, unsure=unsure
                )
        elif outcome is Outcome.FAILED or outcome is Outcome.MISCONFIGURED:
            if outcome is Outcome.MISCONFIGURED or verdict.reason in NEVER_ARRIVED:
                window.refund(sent)  # never charged: refused before, or never arrived
            if window.trial == sent:
                window.trial = None
        else:  # the backend admitted it, answered or not
            window.answered(sent, verdict.remaining_requests, now, unsure)

    def _throttled_for(self, verdict: Verdict, now: float) -> float | None:
        """Seconds a 429 asks for: its hint if exact; else the learned window's next free
        slot, when sooner than a whole-second hint or when there is no hint at all."""
        hint = verdict.retry_after
        if hint is not None and verdict.retry_exact:
            return hint
        frees = next(self.window.frees(now), None) if self.window.capacity is not None else None
        if frees is None or frees <= now:  # it does not know, or it was wrong: trust the hint
            return hint
        return frees - now if hint is None else min(hint, frees - now)

    def _close(self) -> None:
        self.mode = "closed"
        self.blocked_until = _NEVER
        self.failures = 0

    def _cool(self, seconds: float, now: float) -> float:
        self.cooling_until = max(self.cooling_until, now + seconds)
        self.after_cooldown = True
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
