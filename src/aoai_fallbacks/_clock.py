"""The one seam through which the library reads and spends time.

Cooldowns, circuit timers and the bounded wait when every backend is busy all
depend on time. Routing every read and every sleep through a `Clock` lets the
tests move time forward (`aoai_fallbacks.testing.FakeClock`) instead of
sleeping, so the suite stays fast and exact.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol


class Bell:
    """Ends one sleep early: the balancer rings a waiting request's bell when its turn may have come.

    A ring while nobody sleeps is kept for the next sleep, which then ends at
    once: a turn that comes between a request's look at the board and its
    sleep is not lost.
    """

    __slots__ = ("_lock", "_rung", "_wake")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rung = False
        self._wake: Callable[[], None] | None = None

    def ring(self) -> None:
        with self._lock:
            wake, self._wake = self._wake, None
            if wake is None:
                self._rung = True
        if wake is not None:
            wake()

    def listen(self, wake: Callable[[], None]) -> bool:
        """Call `wake` at the next ring; False (and nothing kept) if it rang already."""
        with self._lock:
            if self._rung:
                self._rung = False
                return False
            self._wake = wake
            return True

    def stop(self) -> None:
        """The sleep is over: a later ring is kept for the next one."""
        with self._lock:
            self._wake = None


class Clock(Protocol):
    """What the balancer needs to know about time."""

    def monotonic(self) -> float:
        """Seconds on a monotonic scale: cooldowns and timers are measured on it."""
        ...

    def time(self) -> float:
        """Wall-clock seconds since the epoch: only to read HTTP-date `Retry-After` values."""
        ...

    def sleep(self, seconds: float, bell: Bell | None = None) -> None:
        """Block the calling thread for `seconds`, or until `bell` rings."""
        ...

    async def asleep(self, seconds: float, bell: Bell | None = None) -> None:
        """Suspend the calling task for `seconds`, or until `bell` rings."""
        ...

    def busy(self) -> AbstractContextManager[object]:
        """A block of work during which a simulated clock must not move.

        The transport holds it for each request's whole way through the
        backends (its sleeps on the clock excepted), so a simulated clock
        never jumps while an attempt is on the wire. The real clock moves
        regardless.
        """
        ...


class SystemClock:
    """The real clock: `time.monotonic`, `time.time`, `time.sleep`, `asyncio.sleep`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float, bell: Bell | None = None) -> None:
        if bell is None:
            if seconds > 0:
                time.sleep(seconds)
            return
        rung = threading.Event()
        if bell.listen(rung.set):
            try:
                rung.wait(max(seconds, 0.0))
            finally:
                bell.stop()

    async def asleep(self, seconds: float, bell: Bell | None = None) -> None:
        if bell is None:
            await asyncio.sleep(max(seconds, 0.0))
            return
        loop = asyncio.get_running_loop()
        rung = loop.create_future()

        def wake() -> None:
            loop.call_soon_threadsafe(settle, rung)

        if bell.listen(wake):
            try:
                await asyncio.wait((rung,), timeout=max(seconds, 0.0))
            finally:
                bell.stop()
                rung.cancel()

    def busy(self) -> AbstractContextManager[object]:
        return _NOTHING

    def __repr__(self) -> str:
        return "SystemClock()"


_NOTHING = nullcontext()
SYSTEM_CLOCK = SystemClock()


def settle(future: asyncio.Future[None]) -> None:
    """Resolve `future` unless it is done already (a ring and a timeout may race)."""
    if not future.done():
        future.set_result(None)
