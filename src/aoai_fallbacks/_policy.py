"""Which backend the next attempt goes to, given what the health board knows.

The rules, in order (DESIGN, "Selection"):

1. Tiers: the base tier first; the larger-model tier only when no base
   backend is usable now, or at once (and only it) with ``large=True``,
   after a context overflow.
2. Priority groups: the lowest priority number with a usable backend wins,
   so provisioned throughput (priority 1) is used before pay-as-you-go.
3. Within the group: weighted random, with the injected `random.Random`,
   among the backends not gated (`aoai_fallbacks._health`) and those
   recovering (out of a cooldown or an open circuit) with no request in
   flight, which this request then probes. Backends known to have no room
   for the request's `cost` are probed only when no one else in the group
   can take it; a gated backend with a request in flight is skipped.

So a request never waits while some backend is open or free to probe, and a
backend likely to refuse sees one request at a time, not the whole crowd.

When nothing is usable the answer is `Wait`: the seconds until the earliest
backend not excluded recovers (cooldown, open circuit or quarantine ends)
or, when that is a gated backend whose probe is out, a short random poll
(so the waiters come back one by one, not all at once); None when every
backend is excluded and none will. A caller whose `patience` (what is left
of its wait budget) is shorter than that wait is handed a gated backend
with its probe out rather than nothing: a likely 429 beats a certain error.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aoai_fallbacks._health import PROBE_POLL, BackendHealth

if TYPE_CHECKING:
    from aoai_fallbacks.config import Backend

__all__ = ["Entry", "SelectionPolicy", "Wait"]


@dataclass(frozen=True, slots=True)
class Wait:
    """No backend is usable now.

    `seconds`: the earliest recovery, from now; None: no backend outside the
    request's exclusions will ever recover, so waiting is pointless.
    `polling`: the wait is a short poll while a gated backend's probe is
    out, not a known recovery time (worth a log line only at DEBUG).
    """

    seconds: float | None
    polling: bool = False


@dataclass(frozen=True, slots=True)
class Entry:
    """A backend beside its health, as the policy walks them."""

    backend: Backend
    health: BackendHealth


class SelectionPolicy:
    """Priority groups per tier, precomputed once: `choose` runs on every attempt."""

    __slots__ = ("_base", "_large", "_rng")

    def __init__(self, entries: Sequence[Entry], rng: random.Random) -> None:
        self._rng = rng
        self._base = _groups([e for e in entries if e.backend.tier != "large"])
        self._large = _groups([e for e in entries if e.backend.tier == "large"])

    def choose(
        self,
        now: float,
        *,
        exclude: Collection[str],
        large: bool,
        cost: int,
        probe_timeout: float,
        patience: float,
    ) -> Entry | Wait:
        """The entry to try next (counted as sent; a gated one as its probe), or how long to wait."""
        tiers = (self._large,) if large else (self._base, self._large)
        crowded: list[Entry] = []  # the first group's gated backends whose probe is out
        for groups in tiers:
            for group in groups:
                pool: list[Entry] = []  # open, or recovering with no probe out yet
                short: list[Entry] = []  # no known room, no probe out yet
                busy: list[Entry] = []  # gated, a request in flight
                for e in group:
                    health = e.health
                    if e.backend.name in exclude or not health.selectable(now):
                        continue
                    lacks_room = health.short_of(cost, now)
                    if not (lacks_room or health.recovering()):
                        pool.append(e)
                    elif not health.probe_free(now, probe_timeout):
                        busy.append(e)
                    elif lacks_room:
                        short.append(e)
                    else:
                        pool.append(e)
                if pool or short:
                    chosen = self._draw(pool or short)
                    chosen.health.take(cost, now, probe_timeout)
                    return chosen
                crowded = crowded or busy
        poll = self._rng.uniform(*PROBE_POLL)
        ready = [
            # (when, polling): a backend selectable now but not chosen has a request
            # in flight that its gate waits for; the others wait for a known time.
            (e.health.ready_at(now, probe_timeout, poll), e.health.selectable(now))
            for groups in tiers
            for group in groups
            for e in group
            if e.backend.name not in exclude
        ]
        if not ready:
            return Wait(None)
        when, polling = min(ready)
        seconds = max(when - now, 0.0)
        if crowded and seconds > patience:
            chosen = self._draw(crowded)
            chosen.health.take(cost, now, probe_timeout)
            return chosen
        return Wait(seconds, polling=polling)

    def _draw(self, pool: Sequence[Entry]) -> Entry:
        """Weighted random among `pool` (no draw for one)."""
        if len(pool) == 1:
            return pool[0]
        return self._rng.choices(pool, weights=[e.backend.weight for e in pool])[0]


def _groups(entries: Sequence[Entry]) -> tuple[tuple[Entry, ...], ...]:
    """Entries grouped by priority, lowest number first, keeping configuration order."""
    priorities = sorted({e.backend.priority for e in entries})
    return tuple(tuple(e for e in entries if e.backend.priority == p) for p in priorities)
