"""`FakeClock`: time stands still while anyone works, and jumps when everyone sleeps."""

from __future__ import annotations

import asyncio
import threading

import pytest

from aoai_fallbacks._clock import Bell
from aoai_fallbacks.testing import FakeClock


def test_sleep_moves_time_at_once_when_nobody_else_works() -> None:
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


def test_sleepers_wake_in_order_each_at_its_own_time() -> None:
    clock = FakeClock(start=0.0)
    woke: list[tuple[str, float]] = []

    async def nap(name: str, seconds: float) -> None:
        await clock.asleep(seconds)
        woke.append((name, clock.monotonic()))

    async def main() -> None:
        await asyncio.gather(nap("late", 3.0), nap("early", 1.0), nap("middle", 2.0))

    asyncio.run(main())
    assert woke == [("early", 1.0), ("middle", 2.0), ("late", 3.0)]


def test_time_stands_still_while_a_task_is_busy_however_long_it_takes() -> None:
    # A request on the wire is woken by real I/O, not by the fake clock: here,
    # work that takes many turns of the loop and real time. It must see the
    # time it began at, or the code under test would think it took a minute.
    clock = FakeClock(start=0.0)
    seen: list[float] = []

    async def in_flight() -> None:
        with clock.busy():
            for _ in range(50):
                await asyncio.sleep(0.001)
            seen.append(clock.monotonic())

    async def main() -> None:
        task = asyncio.create_task(in_flight())
        await clock.asleep(60.0)
        seen.append(clock.monotonic())
        await task

    asyncio.run(main())
    assert seen == [0.0, 60.0]


def test_a_busy_task_that_sleeps_lets_time_move_and_is_busy_again_on_waking() -> None:
    clock = FakeClock(start=0.0)
    seen: list[tuple[str, float]] = []

    async def worker() -> None:
        with clock.busy():
            await clock.asleep(5.0)  # not busy while asleep: time may move
            for _ in range(20):  # busy again: the other sleeper must wait for this
                await asyncio.sleep(0)
            seen.append(("worker", clock.monotonic()))

    async def other() -> None:
        await clock.asleep(6.0)
        seen.append(("other", clock.monotonic()))

    async def main() -> None:
        await asyncio.gather(worker(), other())

    asyncio.run(main())
    assert seen == [("worker", 5.0), ("other", 6.0)]


def test_work_in_another_thread_holds_time_still() -> None:
    # The emulator answers in its own thread: time must not move under it.
    clock = FakeClock(start=0.0)
    started, release = threading.Event(), threading.Event()
    seen: list[float] = []

    def handler() -> None:
        with clock.busy():
            started.set()
            release.wait(10)
            seen.append(clock.monotonic())

    thread = threading.Thread(target=handler)
    thread.start()
    started.wait(10)

    async def main() -> None:
        sleeper = asyncio.create_task(clock.asleep(30.0))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not sleeper.done()  # the handler is still busy: time stands still
        release.set()
        await sleeper

    asyncio.run(main())
    thread.join(10)
    assert seen == [0.0]
    assert clock.monotonic() == 30.0


def test_a_cancelled_sleep_is_forgotten_and_its_task_is_busy_again() -> None:
    clock = FakeClock(start=0.0)

    async def main() -> None:
        with clock.busy():
            task = asyncio.create_task(clock.asleep(100.0))
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        await clock.asleep(1.0)  # not held back by the cancelled 100 s sleep

    asyncio.run(main())
    assert clock.monotonic() == 1.0
    assert "busy=0, waking=0, sleeping=0" in repr(clock)


def test_a_sleep_already_due_wakes_even_while_others_are_busy() -> None:
    clock = FakeClock(start=0.0)

    async def main() -> None:
        with clock.busy():
            await clock.asleep(0.0)

    asyncio.run(main())
    assert clock.monotonic() == 0.0


def test_advance_wakes_whoever_is_due() -> None:
    clock = FakeClock(start=0.0)

    async def main() -> None:
        with clock.busy():  # holds time still: only advance() moves it
            sleeper = asyncio.create_task(clock.asleep(5.0))
            await asyncio.sleep(0)
            clock.advance(5.0)
            await asyncio.wait_for(sleeper, 5)

    asyncio.run(main())
    assert clock.monotonic() == 5.0


def test_a_blocking_sleep_inside_a_running_loop_still_moves_time() -> None:
    # A notebook runs cells inside an event loop; a sync client's sleep there
    # blocks that loop, so the clock must move at once, not on the loop's turn.
    clock = FakeClock(start=0.0)

    async def cell() -> None:
        with clock.busy():
            clock.sleep(5.0)

    asyncio.run(asyncio.wait_for(cell(), 5))
    assert clock.monotonic() == 5.0


def test_a_bell_ends_a_sleep_at_the_time_it_rings() -> None:
    clock = FakeClock(start=0.0)
    bell = Bell()
    woke: list[float] = []

    async def sleeper() -> None:
        await clock.asleep(60.0, bell)
        woke.append(clock.monotonic())

    async def ringer() -> None:
        await clock.asleep(5.0)
        bell.ring()

    async def main() -> None:
        await asyncio.gather(sleeper(), ringer())

    asyncio.run(main())
    assert woke == [5.0]


def test_a_ring_before_the_sleep_ends_it_at_once() -> None:
    clock = FakeClock(start=0.0)
    bell = Bell()
    bell.ring()  # the turn came while the request was still looking at the board
    clock.sleep(60.0, bell)
    assert clock.monotonic() == 0.0
    clock.sleep(1.0, bell)  # the ring was spent: this one sleeps its time
    assert clock.monotonic() == 1.0
