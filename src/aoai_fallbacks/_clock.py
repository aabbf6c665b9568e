"""The one seam through which the library reads and spends time.

Cooldowns, circuit timers and the bounded wait when every backend is busy all
depend on time. Routing every read and every sleep through a `Clock` lets the
tests move time forward (`aoai_fallbacks.testing.FakeClock`) instead of
sleeping, so the suite stays fast and exact.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol


class Clock(Protocol):
    """What the balancer needs to know about time."""

    def monotonic(self) -> float:
        """Seconds on a monotonic scale: cooldowns and timers are measured on it."""
        ...

    def time(self) -> float:
        """Wall-clock seconds since the epoch: only to read HTTP-date `Retry-After` values."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for `seconds`."""
        ...

    async def asleep(self, seconds: float) -> None:
        """Suspend the calling task for `seconds`."""
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

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))

    def busy(self) -> AbstractContextManager[object]:
        return _NOTHING

    def __repr__(self) -> str:
        return "SystemClock()"


_NOTHING = nullcontext()
SYSTEM_CLOCK = SystemClock()
