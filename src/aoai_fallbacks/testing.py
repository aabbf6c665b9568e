"""Helpers for testing code that uses aoai-fallbacks, without sleeping.

`FakeClock` stands in for the real clock: sleeping on it moves its time forward
at once, so a test can walk a backend through a 30-second cooldown in
microseconds. Hand the same instance to the balancer and to the emulator and
both see the same time.
"""

from __future__ import annotations

import asyncio
import threading

__all__ = ["FakeClock"]


class FakeClock:
    """A clock that only moves when told to (or when someone sleeps on it).

    Thread-safe: the emulator reads it from its server thread while the test
    advances it from the main thread.
    """

    def __init__(
        self,
        start: float = 1_000.0,
        *,
        wall_start: float = 1_700_000_000.0,
        io_grace: float = 0.001,
    ) -> None:
        self._lock = threading.Lock()
        self._io_grace = io_grace
        self._elapsed = 0.0
        self._start = start
        self._wall_start = wall_start
        self.slept: list[float] = []
        """Every sleep asked of this clock, in order: tests assert on the waits."""

    def monotonic(self) -> float:
        with self._lock:
            return self._start + self._elapsed

    def time(self) -> float:
        with self._lock:
            return self._wall_start + self._elapsed

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds` (never backward)."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back ({seconds} s)")
        with self._lock:
            self._elapsed += seconds

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(max(seconds, 0.0))

    async def asleep(self, seconds: float) -> None:
        """Wake at the time this sleep began plus `seconds`, as a real sleep would.

        Tasks sleeping at once overlap instead of adding up: a hundred tasks
        each polling for 0.2 s move the clock 0.2 s, not 20 s, so a wait
        budget is not spent by other tasks' waits.

        Before time jumps, the sleeper waits `io_grace` real seconds (1 ms by
        default), so requests already on the wire can land. Without it, tasks
        polling in a tight loop would move the clock minutes ahead while a
        loopback request takes its two milliseconds, and the code under test
        would see that request as lost.
        """
        wake = self.monotonic() + max(seconds, 0.0)
        self.slept.append(seconds)
        await asyncio.sleep(self._io_grace)
        with self._lock:
            self._elapsed = max(self._elapsed, wake - self._start)

    def __repr__(self) -> str:
        return f"FakeClock(monotonic={self.monotonic():.3f})"
