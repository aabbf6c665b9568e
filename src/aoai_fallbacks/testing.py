"""Helpers for testing code that uses aoai-fallbacks, without sleeping.

`FakeClock` stands in for the real clock: it moves only when told to or when
everyone left is sleeping on it, so a test walks a backend through a
30-second cooldown in microseconds. Hand the same instance to the balancer
and to the emulator and both see the same time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aoai_fallbacks._clock import Bell, settle

__all__ = ["FakeClock"]


@dataclass(order=True)
class _Sleeper:
    """One sleep on the clock: when it ends, whose it is, and how to wake it."""

    wake: float
    order: int
    who: object = field(compare=False)
    busy: int = field(compare=False)
    """How busy `who` was when it fell asleep: given back when it wakes."""
    resume: Callable[[], None] = field(compare=False)


def _caller() -> object:
    """Who is calling: the running asyncio task, else the thread."""
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no event loop in this thread
        task = None
    return task if task is not None else threading.get_ident()


class FakeClock:
    """A simulated clock: time stands still while anyone works, and jumps when all sleep.

    Time moves by `advance()`, or by itself when every participant is asleep
    on the clock: it then jumps to the earliest wake-up and wakes whoever is
    due. A participant is a task or thread inside `busy()` (the balancing
    transport marks each request's whole journey, the emulator each request
    it handles); a sleep on the clock pauses the sleeper's participation.
    So a request on the wire, however long the machine takes to deliver it,
    always sees the time it was sent at: the outcome of a test depends on
    what the code under test decides, never on the speed of the machine.

    Work the clock is not told about (a plain coroutine, a thread outside
    `busy()`) does not hold time still; wrap it in `busy()` when its timing
    matters, e.g. a crowd of requests that must all arrive before anyone's
    wait ends. A sleeper due now wakes at once, busy or not.

    Thread-safe: the emulator reads it from its server thread while the test
    advances it from the main thread, and sleepers may be on any thread or
    event loop.
    """

    def __init__(self, start: float = 1_000.0, *, wall_start: float = 1_700_000_000.0) -> None:
        self._lock = threading.Lock()
        self._elapsed = 0.0
        self._start = start
        self._wall_start = wall_start
        self._busy: dict[object, int] = {}  # participant -> depth of busy() it is in
        self._turns: dict[object, int] = {}  # woken sleepers that have not run yet
        self._sleepers: list[_Sleeper] = []  # a heap, earliest wake first
        self._order = itertools.count()
        self.slept: list[float] = []
        """Every sleep asked of this clock, in order: tests assert on the waits."""

    def monotonic(self) -> float:
        with self._lock:
            return self._start + self._elapsed

    def time(self) -> float:
        with self._lock:
            return self._wall_start + self._elapsed

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds` (never backward) and wake whoever is due."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back ({seconds} s)")
        with self._lock:
            self._elapsed += seconds
            self._wake_due()

    @contextmanager
    def busy(self) -> Iterator[None]:
        """Hold time still while the calling task (or thread) works in this block.

        Nests; a sleep on the clock inside the block lets time move while it
        sleeps, and the caller is busy again as soon as it wakes.
        """
        who = _caller()
        with self._lock:
            _add(self._busy, who)
        try:
            yield
        finally:
            with self._lock:
                _take(self._busy, who)
            self._move_when_quiet()

    def sleep(self, seconds: float, bell: Bell | None = None) -> None:
        """Block this thread until the clock reaches now + `seconds`, or `bell` rings."""
        woken = threading.Event()
        # Time moves at once if nobody is busy, even from inside a running event
        # loop (a notebook's): this thread blocks, so the loop could not move it.
        who = self._fall_asleep(seconds, woken.set, bell, defer=False)
        try:
            woken.wait()
        finally:
            if bell is not None:
                bell.stop()
        self._end_turn(who)  # this thread runs now

    async def asleep(self, seconds: float, bell: Bell | None = None) -> None:
        """Suspend this task until the clock reaches now + `seconds`, or `bell` rings.

        Tasks sleeping at once overlap instead of adding up: a hundred tasks
        each sleeping 0.2 s move the clock 0.2 s, not 20 s.
        """
        loop = asyncio.get_running_loop()
        woken = loop.create_future()

        def resume() -> None:
            loop.call_soon_threadsafe(settle, woken)

        who = self._fall_asleep(seconds, resume, bell, defer=True)
        try:
            await woken
        finally:
            if bell is not None:
                bell.stop()
            with self._lock:
                if self._unschedule(who) is not None:  # cancelled before its time: it runs now
                    _add(self._turns, who)
            # The turn handed over at wake-up ends when this task next yields
            # to the loop, so that what it does at once happens at the time it
            # woke at, even if that leaves nobody else busy.
            loop.call_soon(self._end_turn, who)

    def _fall_asleep(
        self, seconds: float, resume: Callable[[], None], bell: Bell | None, *, defer: bool
    ) -> object:
        who = _caller()
        with self._lock:
            self.slept.append(seconds)
            sleeper = _Sleeper(
                wake=self._start + self._elapsed + max(seconds, 0.0),
                order=next(self._order),
                who=who,
                busy=self._busy.pop(who, 0),
                resume=resume,
            )
            heapq.heappush(self._sleepers, sleeper)
        if bell is not None and not bell.listen(lambda: self._ring(who)):
            self._ring(who)  # rang before this sleep: it ends at once
        with self._lock:
            self._wake_due()
            if not defer:
                self._move_if_quiet()
        if defer:
            self._move_when_quiet()
        return who

    def _ring(self, who: object) -> None:
        """Wake `who` before its time, as if its sleep had ended now."""
        with self._lock:
            sleeper = self._unschedule(who)
            if sleeper is not None:
                _add(self._turns, who)
                sleeper.resume()

    def _end_turn(self, who: object) -> None:
        with self._lock:
            _take(self._turns, who)
            self._move_if_quiet()

    def _move_when_quiet(self) -> None:
        """Move time if nobody is busy: at once in a thread, after the loop's turn in a task.

        In a task, the other tasks already scheduled run first: a crowd
        started together falls asleep together before time moves, as it
        would on a real clock.
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            with self._lock:
                self._move_if_quiet()
        else:
            loop.call_soon(self._move_now)

    def _move_now(self) -> None:
        with self._lock:
            self._move_if_quiet()

    def _unschedule(self, who: object) -> _Sleeper | None:
        """Drop `who`'s pending sleep and make it busy as before; None if none is pending."""
        for index, sleeper in enumerate(self._sleepers):
            if sleeper.who == who:
                self._sleepers.pop(index)
                heapq.heapify(self._sleepers)
                _add(self._busy, who, sleeper.busy)
                return sleeper
        return None

    def _move_if_quiet(self) -> None:
        """With nobody busy, jump to the earliest wake-up (under the lock)."""
        if self._busy or self._turns or not self._sleepers:
            return
        self._elapsed = max(self._elapsed, self._sleepers[0].wake - self._start)
        self._wake_due()

    def _wake_due(self) -> None:
        """Wake every sleeper whose time has come (under the lock).

        Each is as busy again as it was when it fell asleep, and holds a turn
        besides until it has run: the turn is handed over now, so that time
        cannot move between the wake-up and the moment the sleeper runs.
        """
        now = self._start + self._elapsed
        while self._sleepers and self._sleepers[0].wake <= now:
            sleeper = heapq.heappop(self._sleepers)
            _add(self._busy, sleeper.who, sleeper.busy)
            _add(self._turns, sleeper.who)
            sleeper.resume()

    def __repr__(self) -> str:
        with self._lock:
            return (
                f"FakeClock(monotonic={self._start + self._elapsed:.3f}, "
                f"busy={len(self._busy)}, waking={len(self._turns)}, "
                f"sleeping={len(self._sleepers)})"
            )


def _add(counts: dict[object, int], who: object, n: int = 1) -> None:
    if n:
        counts[who] = counts.get(who, 0) + n


def _take(counts: dict[object, int], who: object) -> None:
    left = counts.get(who, 0) - 1
    if left > 0:
        counts[who] = left
    else:
        counts.pop(who, None)
