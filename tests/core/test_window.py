"""The learned request window: when each slot frees, from what was sent and what came back."""

from __future__ import annotations

import math
from itertools import islice

import pytest

from aoai_fallbacks._window import LONG, SHORT, Window

T = 1_000.0


def sent(window: Window, *times: float) -> list[float]:
    return [window.charge(at) for at in times]


def test_knows_nothing_and_holds_nothing_back_until_told() -> None:
    window = Window()
    sent(window, T, T, T)
    assert window.capacity is None
    assert window.room(T) == math.inf


def test_capacity_is_what_remains_plus_what_was_surely_in_the_window() -> None:
    window = Window()
    first, _, third = sent(window, T, T + 1, T + 2)
    window.answered(first, 7, now=T + 0.5, unsure=0)  # 7 left after 1 of ours
    assert window.capacity == 8
    window.answered(third, 5, now=T + 2.5, unsure=1)  # the second is still out: not sure of it
    assert window.capacity == 8  # never less than a bound already seen
    assert window.room(T + 2.5) == 5  # 8, less the three sent


def test_a_full_window_frees_one_slot_as_each_of_its_requests_leaves() -> None:
    window = Window()
    times = sent(window, T, T + 1, T + 2)
    window.answered(times[-1], 0, now=T + 2)
    assert window.capacity == 3
    assert window.room(T + 2) == 0
    margin = LONG * window.margin
    frees = [at + LONG + margin for at in times]
    # and each slot taken then frees again a window later, as far as anyone asks
    assert list(islice(window.frees(T + 2), 6)) == frees + [at + LONG + margin for at in frees]
    assert window.room(T + LONG + 0.5) == 1  # the first has left


def test_a_refusal_says_what_fits_but_one_with_nothing_of_ours_says_nothing() -> None:
    window = Window()
    (alone,) = sent(window, T)
    window.refused(alone, T, 9.0, exact=True)
    assert window.capacity is None  # others fill it: how much is ours to take is unknown
    *_, c = sent(window, T + 1, T + 1, T + 1)
    window.refused(c, T + 1, 9.0, exact=True, unsure=0)
    assert window.capacity == 2
    assert window.room(T + 1) == 0  # c was refunded: a and b hold the two slots


def test_a_refusal_by_a_hair_moves_the_margin_not_the_capacity() -> None:
    window = Window()
    times = sent(window, T, T)
    window.answered(times[1], 0, now=T)
    assert window.capacity == 2
    (late,) = sent(window, T + LONG + LONG * window.margin)
    before = window.margin
    window.refused(late, late, 0.02, exact=True)
    assert window.capacity == 2
    assert window.margin == pytest.approx(before + 0.02 / LONG)


def test_a_second_of_waiting_asks_once_whether_the_window_is_one_second() -> None:
    window = Window()
    times = sent(window, T, T)
    window.answered(times[1], 0, now=T)
    assert window.length == LONG
    assert window.short_room_at(T) == pytest.approx(T + SHORT * (1 + window.margin))
    (trial,) = sent(window, T + 1.1)
    window.trial = trial
    assert window.short_room_at(T + 1.1) is None  # one question at a time
    window.answered(trial, 0, now=T + 1.1)
    assert (window.length, window.settled) == (SHORT, True)


def test_the_one_second_question_waits_until_a_second_holds_none_of_ours() -> None:
    # Answers read a second after their request have let a 1 s window's slots go, so
    # the capacity they suggest (2 here) may be too large for 1 s. Asked while one
    # of ours is still in the last second, a 1 s window of one would refuse the
    # question and "prove" the 10 s window wrongly.
    window = Window()
    first, _ = sent(window, T, T + 1.2)
    window.answered(first, 1, now=T + 1.2)
    assert window.capacity == 2
    assert window.short_room_at(T + 1.21) == pytest.approx(T + 1.2 + SHORT * (1 + window.margin))


def test_a_refused_trial_proves_the_ten_second_window() -> None:
    window = Window()
    times = sent(window, T, T)
    window.answered(times[1], 0, now=T)
    (trial,) = sent(window, T + 1.1)
    window.trial = trial
    window.refused(trial, T + 1.1, 8.9, exact=True)
    assert (window.length, window.settled) == (LONG, True)
    assert window.short_room_at(T + 5) is None


def test_an_exact_wait_longer_than_a_second_proves_the_ten_second_window() -> None:
    window = Window()
    *_, b = sent(window, T, T)
    window.refused(b, T, 9.5, exact=True)
    assert (window.length, window.settled) == (LONG, True)


def test_requests_sent_at_one_instant_keep_their_order() -> None:
    window = Window()
    times = sent(window, T, T, T)
    assert times[0] < times[1] < times[2]
    assert all(at - T < 1e-9 for at in times)
    window.answered(times[0], 2, now=T)  # 2 left after the first: capacity 3
    assert window.capacity == 3
    assert window.room(T + LONG * (1 + window.margin)) == 3  # all three leave it together


def test_an_exact_wait_that_a_send_a_second_ago_explains_points_to_the_one_second_window() -> None:
    window = Window()
    first, second = sent(window, T, T)
    window.refused(second, T + 0.01, 0.99, exact=True, unsure=1)
    assert (window.length, window.settled, window.capacity) == (SHORT, False, 1)
    assert next(window.frees(T + 0.01)) == pytest.approx(first + SHORT * (1 + window.margin))
    # Unproven: a wait no 1 s window gives puts it back, for good.
    (third,) = sent(window, T + 1.1)
    window.refused(third, T + 1.11, 8.9, exact=True)
    assert (window.length, window.settled) == (LONG, True)


@pytest.mark.parametrize(
    ("exact", "ten_seconds_before"),
    [(False, False), (True, True)],
    ids=["whole-second-wait", "a-send-ten-seconds-before-explains-it"],
)
def test_other_waits_under_a_second_leave_the_ten_second_window(
    exact: bool, ten_seconds_before: bool
) -> None:
    window = Window()
    if ten_seconds_before:
        sent(window, T + 0.99 - LONG)  # its slot frees when the refusal says
    _, second = sent(window, T, T)
    window.refused(second, T + 0.01, 0.99, exact=exact, unsure=1)
    assert window.length == LONG


def test_once_others_are_seen_using_the_quota_the_newest_reading_counts() -> None:
    window = Window()
    first, second = sent(window, T, T + 1)
    window.answered(first, 4, now=T + 0.5)
    assert window.capacity == 5  # alone, every reading is a bound: the largest counts
    window.answered(second, 2, now=T + 1.5)
    assert window.capacity == 5
    (third,) = sent(window, T + 2)
    window.refused(third, T + 2.1, 3.0, exact=True)  # room for 3 more, yet refused
    assert window.capacity == 2
    (fourth,) = sent(window, T + 5.2)
    window.answered(fourth, 3, now=T + 5.5)
    assert window.capacity == 6  # others left room
    (fifth,) = sent(window, T + 6)
    window.answered(fifth, 0, now=T + 6.5)
    assert window.capacity == 4  # and took it back: not the 6 read a second ago
