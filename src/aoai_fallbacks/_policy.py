"""Which backend the next attempt goes to, given what the health board knows.

The rules, in order (DESIGN, "Selection"):

1. Tiers: the base tier first; the larger-model tier only when no base
   backend is usable now, or at once (and only it) with ``large=True``,
   after a context overflow.
2. Priority groups: the lowest priority number with a usable backend wins,
   so provisioned throughput (priority 1) is used before pay-as-you-go.
3. Within the group: weighted random, with the injected `random.Random`,
   among the backends whose last known remaining quota (seen within a minute)
   can take the request's `cost`; the short ones are used only when no one
   else in the group has room.

When nothing is usable the answer is `Wait`: the seconds until the earliest
backend not excluded recovers (cooldown, open circuit or quarantine ends),
or None when every backend is excluded and none will.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aoai_fallbacks._health import BackendHealth

if TYPE_CHECKING:
    from aoai_fallbacks.config import Backend

__all__ = ["Entry", "SelectionPolicy", "Wait"]


@dataclass(frozen=True, slots=True)
class Wait:
    """No backend is usable now.

    `seconds`: the earliest recovery, from now; None: no backend outside the
    request's exclusions will ever recover, so waiting is pointless.
    """

    seconds: float | None


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
    ) -> Entry | Wait:
        """The entry to try next (a half-open one is marked as probed), or how long to wait."""
        tiers = (self._large,) if large else (self._base, self._large)
        for groups in tiers:
            for group in groups:
                usable = [
                    e
                    for e in group
                    if e.backend.name not in exclude and e.health.usable(now, probe_timeout)
                ]
                if not usable:
                    continue
                roomy = [e for e in usable if not e.health.short_of(cost, now)]
                pool = roomy or usable
                chosen = (
                    pool[0]
                    if len(pool) == 1
                    else self._rng.choices(pool, weights=[e.backend.weight for e in pool])[0]
                )
                chosen.health.take_probe(now)
                return chosen
        ready = [
            e.health.ready_at(now, probe_timeout)
            for groups in tiers
            for group in groups
            for e in group
            if e.backend.name not in exclude
        ]
        return Wait(max(min(ready) - now, 0.0) if ready else None)


def _groups(entries: Sequence[Entry]) -> tuple[tuple[Entry, ...], ...]:
    """Entries grouped by priority, lowest number first, keeping configuration order."""
    priorities = sorted({e.backend.priority for e in entries})
    return tuple(tuple(e for e in entries if e.backend.priority == p) for p in priorities)
