"""`FakeClock`: time moves only when told, and async sleeps behave like real ones."""

from __future__ import annotations

import asyncio

import pytest

from aoai_fallbacks.testing import FakeClock


def test_sleep_moves_time_at_once_and_is_recorded() -> None:
    clock = FakeClock(start=10.0, wall_start=100.0)
    clock.sleep(2.5)
    assert (clock.monotonic(), clock.time(), clock.slept) == (12.5, 102.5, [2.5])


def test_time_never_goes_back() -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(-1)


def test_concurrent_async_sleeps_overlap_instead_of_adding_up() -> None:
    clock = FakeClock(start=0.0)

    async def main() -> None:
        await asyncio.gather(*(clock.asleep(0.2) for _ in range(100)), clock.asleep(0.5))

    asyncio.run(main())
    assert clock.monotonic() == pytest.approx(0.5)
    assert len(clock.slept) == 101


def test_an_async_sleep_lets_work_in_flight_finish_before_time_jumps() -> None:
    # A request on the wire is woken by real I/O, not by the fake clock: here,
    # a task that needs a few turns of the loop. It must see the time it was
    # sent at, or the code under test would think it took a minute.
    clock = FakeClock(start=0.0)
    seen: list[float] = []

    async def in_flight() -> None:
        for _ in range(5):
            await asyncio.sleep(0)
        seen.append(clock.monotonic())

    async def main() -> None:
        task = asyncio.create_task(in_flight())
        await clock.asleep(60.0)
        await task

    asyncio.run(main())
    assert seen == [0.0]
    assert clock.monotonic() == 60.0
