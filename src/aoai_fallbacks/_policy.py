"""Which backend the next attempt goes to, given what the health board knows.

The rules, in order (DESIGN, "Selection"):

1. Tiers: the base tier first; the larger-model tier only when no base
   backend is usable now, or at once (and only it) with ``large=True``,
   after a context overflow.
2. Priority groups: the lowest priority number with a usable backend wins,
   so provisioned throughput (priority 1) is used before pay-as-you-go.
3. Within the group: weighted random, with the injected `random.Random`,
   among the backends with room in their learned window
   (`aoai_fallbacks._window`) and those recovering (out of a cooldown or an
   open circuit, their window unknown) with no request in flight, which this
   request then probes. Backends short of tokens, or full with no known time
   when they free, are probed only when no one else in the group can take it;
   a gated backend with a request in flight is skipped. A full backend whose
   window is unproven is asked once at a 1 s window's pace, when that comes
   a second or more before its 10 s slot.
4. The line: a request behind others that wait (`ahead`) takes a backend
   only when there is room for all of them and it too; else it waits for
   the slot after theirs.

So a request never waits while some backend has room that nobody before it
in line is owed, and a backend likely to refuse sees one request at a time.

When nothing is usable the answer is `Wait`: the seconds until the slot this
request is owed frees, counting every backend's slots in time order (a
cooldown, open circuit or quarantine ending; a request of ours leaving a full
window) or, when that is a gated backend whose probe is out, a short random
poll (so the waiters come back one by one, not all at once); None when every
backend is excluded and none will. A caller whose `patience` (what is left
of its wait budget) is shorter than that wait is handed a gated backend
with its probe out rather than nothing: a likely 429 beats a certain error.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import deque
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING

from aoai_fallbacks._health import PROBE_POLL, BackendHealth
from aoai_fallbacks._window import SHORT

if TYPE_CHECKING:
    from aoai_fallbacks.config import Backend

__all__ = ["Choice", "Entry", "SelectionPolicy", "Wait"]


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


@dataclass(frozen=True, slots=True)
class Choice:
    """The entry the next attempt goes to; `trial`: it asks at a 1 s window's pace.

    `probe`: the entry is gated (recovering, or with no known room) and this
    attempt is its one probe.
    """

    entry: Entry
    trial: bool
    probe: bool = False


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
        ahead: int = 0,
        paced: bool = False,
        spent: Collection[str] = (),
    ) -> Choice | Wait:
        """The entry to try next (a gated one as its probe), or how long to wait.

        `spent`: backends this request may not be handed now, though when
        they recover still counts for the wait. `ahead`: requests already
        waiting in line before this one; it takes a backend now only if there
        is room for them too, and otherwise waits for the slot after theirs.
        `paced`: requests wait in line, so a backend whose window is known
        takes them at its refill pace (`Window.frees`).
        """
        tiers = (self._large,) if large else (self._base, self._large)
        first: list[Entry] = []  # the first group's backends that can take a request now
        trials: set[int] = set()  # ids of those asked at a 1 s window's pace
        probes: set[int] = set()  # ids of the gated ones, probed by the request they take
        crowded: list[Entry] = []  # the first group's gated backends whose probe is out
        open_now = 0.0  # requests all backends can take now
        # (when, polling, a guess) each backend can take one more request
        later: list[Iterator[Slot]] = []
        poll: float | None = None  # drawn once, and only if a probe is out
        for groups in tiers:
            for group in groups:
                pool: list[Entry] = []  # room, or recovering with no probe out yet
                short: list[Entry] = []  # no known room, no probe out yet
                busy: list[Entry] = []  # gated, a request in flight
                for e in group:
                    if e.backend.name in exclude:
                        continue
                    health = e.health
                    if not health.selectable(now) or e.backend.name in spent:
                        later.append(_after(health, health.ready_at(now), paced))
                        continue
                    window = health.window
                    room = window.room(now)
                    lacks_room = room <= 0 or health.short_of(cost, now)
                    if not (lacks_room or health.recovering()):
                        if paced and window.capacity is not None:
                            slots = window.frees(now, paced=True)
                            first_slot = next(slots)  # there is room: a slot exists
                            if first_slot <= now:
                                pool.append(e)
                                open_now += 1
                            else:
                                slots = itertools.chain((first_slot,), slots)
                            later.append(_then(slots))
                        else:
                            pool.append(e)
                            open_now += room
                            if ahead:  # else this request takes a backend now: no waiting
                                after = int(min(room, ahead + 1))
                                later.append(_then(window.frees(now), after=after))
                    elif room <= 0 and (frees := next(window.frees(now), None)) is not None:
                        # Full, and the window says when it frees: no probe needed. But
                        # a second or more of waiting may be a 1 s window's: ask once.
                        short_room = window.short_room_at(now)
                        if short_room is not None and frees - short_room >= SHORT:
                            if short_room <= now:
                                short.append(e)
                                trials.add(id(e))
                                probes.add(id(e))
                                open_now += 1
                            else:
                                later.append(iter(((short_room, False, True),)))
                        later.append(_then(window.frees(now, paced=paced)))
                    elif not health.probe_free(now, probe_timeout):
                        busy.append(e)
                        if poll is None:
                            poll = self._rng.uniform(*PROBE_POLL)
                        later.append(
                            iter(((health.probe_back(now, probe_timeout, poll), True, False),))
                        )
                    elif lacks_room:
                        short.append(e)
                        probes.add(id(e))
                        open_now += 1
                    else:
                        pool.append(e)
                        probes.add(id(e))
                        open_now += 1
                if not first and (pool or short):
                    first = pool or short
                crowded = crowded or busy
        if first and open_now > ahead:
            chosen = self._draw(first)
            return Choice(chosen, trial=id(chosen) in trials, probe=id(chosen) in probes)
        merged = heapq.merge(*later)
        slot = _nth(merged, int(max(ahead - open_now, 0)))
        if slot is not None and slot[2] and slot[0] - now > patience:
            # Too far for this caller even to ask a 1 s window: say when a slot is sure.
            slot = next((s for s in merged if not s[2]), slot)
        if slot is None:
            return Wait(None)
        when, polling, _ = slot
        seconds = max(when - now, 0.0)
        if crowded and seconds > patience:
            return Choice(self._draw(crowded), trial=False)
        return Wait(seconds, polling=polling)

    def _draw(self, pool: Sequence[Entry]) -> Entry:
        """Weighted random among `pool` (no draw for one)."""
        if len(pool) == 1:
            return pool[0]
        return self._rng.choices(pool, weights=[e.backend.weight for e in pool])[0]


Slot = tuple[float, bool, bool]
"""(when, polling, a guess): when a backend can take one more request; whether that is
a short poll while its probe is out; whether it only asks if its window is 1 s long."""


def _after(health: BackendHealth, ready: float, paced: bool) -> Iterator[Slot]:
    """When a backend out of rotation can take requests again: one probe when its
    circuit closes, or as its window allows once its cooldown ends."""
    if health.mode != "closed" or health.window.capacity is None:
        return iter(((ready, False, False),))
    return _then(health.window.frees(ready, paced=paced))


def _then(frees: Iterator[float], *, after: int = 0, horizon: int = 1024) -> Iterator[Slot]:
    """`frees` as slots, less the first `after` (counted as open now)."""
    return ((when, False, False) for when in islice(frees, after, after + horizon))


def _nth(slots: Iterator[Slot], index: int) -> Slot | None:
    """The slot `index` places down the line, or the last one known if the line is shorter."""
    last = deque(islice(slots, index + 1), maxlen=1)
    return last.pop() if last else None


def _groups(entries: Sequence[Entry]) -> tuple[tuple[Entry, ...], ...]:
    """Entries grouped by priority, lowest number first, keeping configuration order."""
    priorities = sorted({e.backend.priority for e in entries})
    return tuple(tuple(e for e in entries if e.backend.priority == p) for p in priorities)
