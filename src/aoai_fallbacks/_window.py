"""What the balancer learns of one deployment's request window from what it sent and heard.

Azure admits a deployment's requests over a sliding window of 1 s or 10 s and
charges each one on arrival: a request charged at ``t`` holds its slot until
``t + window``. The balancer sees every request it sends there, so once it
knows the window's length and how many requests fit in it, it knows when each
slot frees, to the millisecond, whatever the backend's 429s say (a
whole-second ``Retry-After``, rounded up, or none at all), and without waiting
for an answer to learn that the next request fits.

Learned, never configured:

* **capacity**, the requests per window left to this balancer: each answer
  bounds it from below by its ``x-ratelimit-remaining-requests`` plus the
  requests of ours surely in the window then (so what other clients of the
  same deployment spend is left out by itself); the capacity is the largest
  of the last seven bounds, and never less than a window was seen to admit.
  A refusal sets it to what was in the window when it came. Once a refusal
  comes while the model had room, others are known to use the quota, and
  what they leave comes and goes: from then on the newest bound counts. Unknown (None)
  until the first of either: the model then holds nothing back.
* **length**: 10 s, Azure's usual window, until evidence says 1 s. A backend
  whose next slot is a second or more away, while requests wait, is asked once
  when a 1 s window would hold none of its requests; an answer proves the
  shorter window, a refusal the longer one. Sooner still, a refusal whose
  exact wait a request of ours sent a second earlier explains, and none sent
  ten seconds earlier does, has the window taken for 1 s, unproven. A refusal whose exact wait outlasts a 1 s window (or any
  refusal the 1 s model did not expect) puts it back to 10 s.

Every refusal the model did not foresee corrects it, so when other clients
share the quota it predicts less well but never worse than not predicting.

Not thread-safe by itself: `aoai_fallbacks.balancer.Balancer` holds its lock.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import deque
from collections.abc import Iterator

__all__ = ["LONG", "SHORT", "Window"]

LONG = 10.0
"""Seconds of Azure's usual request window (RPM / 6 per 10 s)."""
SHORT = 1.0
"""Seconds of the short request window some deployments use."""
RETAIN = 2 * LONG + 60.0
"""Seconds a request's send time is kept: an answer up to a minute late still finds
the requests sent within a window before it."""
MARGIN = 0.005
"""Share of the window first added to each predicted free time: a request is charged
when it arrives, a little after it was sent, so its slot frees a little later."""
TIE = 1e-6
"""Seconds within which a send counts as at a window's edge: requests sent at one
instant are told apart by a hair (`Window.charge`), and must still leave the
window together."""
MAX_MARGIN = 0.05
"""The most that margin grows to, as a share of the window, when requests arrive early."""


class Window:
    """One deployment's sliding request window as seen from this balancer."""

    __slots__ = (
        "_bounds",
        "_floor",
        "_head",
        "_sent",
        "_shared",
        "capacity",
        "length",
        "margin",
        "settled",
        "trial",
    )

    def __init__(self) -> None:
        self._sent: list[float] = []  # send times, ascending; live from _head on
        self._head = 0
        self.capacity: int | None = None
        self.length = LONG
        self.margin = MARGIN  # share of the window added to each predicted free time
        self.settled = False  # the length is proven (or was corrected) by an answer
        self.trial: float | None = None  # send time of the request asking at the 1 s pace
        self._floor = 0  # the most of ours this window was seen to admit at once
        self._bounds: deque[int] = deque(maxlen=7)  # the capacity is at least each of these
        self._shared = False  # a refusal came with room to spare: others use the quota too

    # -- what was sent --------------------------------------------------------

    def charge(self, at: float) -> float:
        """A request was handed to this backend at `at` (counted until refunded).

        Returns the time it is known by: `at`, or a hair later if another was
        sent at the same instant (a simulated clock), so that every request
        has its own place in the order of sending.
        """
        sent = self._sent
        if len(sent) > self._head and at <= sent[-1]:
            at = math.nextafter(sent[-1], math.inf)
        sent.append(at)
        self._forget(at)
        return at

    def insert(self, at: float) -> None:
        """A request another balancer sent at `at` (on this one's clock): it holds a slot too.

        Unlike `charge`, it may come late, after requests sent later: it goes
        to its place in the order of sending (once, however often it is told).
        """
        sent = self._sent
        index = bisect.bisect_left(sent, at, self._head)
        if index == len(sent) or sent[index] != at:
            sent.insert(index, at)

    def holds(self, at: float) -> bool:
        """Whether the request sent at `at` counts in the window (it was not refunded)."""
        index = bisect.bisect_left(self._sent, at, self._head)
        return index < len(self._sent) and self._sent[index] == at

    def refund(self, at: float) -> None:
        """The request sent at `at` was not charged (refused, or never arrived)."""
        index = bisect.bisect_left(self._sent, at, self._head)
        if index < len(self._sent) and self._sent[index] == at:
            del self._sent[index]

    def _forget(self, now: float) -> None:
        head = bisect.bisect_right(self._sent, now - RETAIN, self._head)
        if head > 64 and head * 2 > len(self._sent):
            del self._sent[:head]
            head = 0
        self._head = head

    def _count(self, after: float, until: float) -> int:
        """Requests sent in (after, until] (see `TIE` for `after`)."""
        sent = self._sent
        return bisect.bisect_right(sent, until, self._head) - bisect.bisect_right(
            sent, after + TIE, self._head
        )

    def _since(self, after: float) -> int:
        """Requests sent after `after` (a hair in the future included: see `charge`)."""
        return len(self._sent) - bisect.bisect_right(self._sent, after + TIE, self._head)

    # -- what the backend said ------------------------------------------------

    def answered(self, at: float, remaining: int | None, now: float, unsure: int = 0) -> None:
        """An answer to the request sent at `at`, with its remaining-requests header.

        `unsure`: requests sent before it and not answered yet (they may still
        be refused). When the backend counted what remains is not said (when
        it charged the request, or when it answered), so each answer gives a
        bound the capacity cannot be under: what remains plus the requests of
        ours that were surely in the window then (sent before this one, still
        in the window now, and admitted). The capacity is the largest of the
        last few bounds (the newest alone once others are seen to use the
        quota), and never less than a window was seen to admit.
        """
        self._forget(now)
        if self.trial == at:
            self.trial = None
            self.length, self.settled = SHORT, True
        if now - at >= RETAIN - LONG:
            return
        window = self.length
        self._floor = max(self._floor, self._count(at - window, at) - unsure)
        if remaining is not None:
            held = self._count(now - window, at) - unsure
            if self._shared:  # what others leave comes and goes: the newest reading counts
                self._bounds.clear()
            self._bounds.append(remaining + max(held, 0))
        if self._bounds:
            self.capacity = max(max(self._bounds), self._floor)
        elif self.capacity is not None:
            self.capacity = max(self.capacity, self._floor)

    def refused(
        self, at: float, now: float, wait: float | None, *, exact: bool, unsure: int = 0
    ) -> None:
        """A 429 to the request sent at `at`; `wait` is its hint, `exact` if to the millisecond.

        The request was not charged. What was in the window then is what fits:
        counting the `unsure` requests sent before it and not answered yet as
        admitted may be one too many for a while (their own refusals, if they
        come, correct it), but counting them out could leave the window
        thought smaller than it is for good where no remaining counts come.
        """
        self.refund(at)
        self._forget(now)
        was_trial = self.trial == at
        if was_trial:
            self.trial = None
        if exact and wait is not None and self._points_to_short(at, now, wait):
            self.length = SHORT  # unproven: the next refusal it did not expect puts it back
        held = self._count(at - self.length, at)
        expected = self.capacity is None or held - unsure < self.capacity
        if expected and exact and wait is not None and wait < self.length * MAX_MARGIN:
            # Refused a moment before the slot it was sent for freed: the request
            # reached the backend sooner than the one it replaced had. Leave more
            # time; the capacity was right.
            self.margin = min(self.margin + wait / self.length, MAX_MARGIN)
            return
        proves_long = exact and wait is not None and wait > SHORT  # no 1 s window says that
        if self.length == SHORT and (was_trial or proves_long or (expected and not exact)):
            self.length = LONG
        if was_trial or proves_long:
            self.settled = True
        if expected and self.capacity is not None and not was_trial:  # room, yet refused
            self._shared = True
        if held > 0 and now - at < RETAIN - LONG:  # none of ours held: others fill it
            self.capacity = self._floor = held
            self._bounds.clear()

    def _points_to_short(self, at: float, now: float, wait: float) -> bool:
        """An exact wait that one of ours a second before explains, and none ten before.

        The slot the backend says frees `wait` after refusing the request sent
        at `at` is one a request of ours took a window's length earlier, give
        or take the round trip (`now - at`) and the margin, unless another
        client took it. If a 1 s window explains it and a 10 s one cannot, the
        window is most likely 1 s; it is then tried as such, still unproven.
        """
        if self.settled or self.length != LONG or wait >= SHORT:
            return False
        slack = now - at + SHORT * MAX_MARGIN
        frees = at + wait

        def ours_near(when: float) -> bool:
            return self._count(when - slack - TIE, when + slack) > 0

        return ours_near(frees - SHORT) and not ours_near(frees - LONG)

    def model(self) -> tuple[int | None, float, bool, bool]:
        """What was learned, as other balancers are told it: capacity, length, settled, shared."""
        return self.capacity, self.length, self.settled, self._shared

    def adopt(self, capacity: int, length: float, settled: bool, shared: bool) -> None:
        """What another balancer of the same deployment learned, from the same requests.

        Every balancer sharing a store sees every request sent (`insert`), so
        each one's answers bound the same capacity: the newest lesson stands
        until the next answer corrects it.
        """
        self.capacity = capacity
        self._floor = min(self._floor, capacity)
        self._bounds.clear()
        self._bounds.append(capacity)
        self.length, self.settled = length, settled
        self._shared = self._shared or shared

    # -- what it can take -----------------------------------------------------

    def room(self, now: float) -> float:
        """Requests it can take now (inf: capacity unknown, nothing held back)."""
        if self.capacity is None:
            return math.inf
        return self.capacity - self._since(now - self.held_for())

    def frees(self, start: float, *, paced: bool = False) -> Iterator[float]:
        """The times, from `start` on, at which it can take one more request each.

        As many `start`s as there is room then, then each in-window send's
        expiry; ends when the sends it knows of run out (requests not yet
        sent will free slots later still).

        `paced`: one request per window length / capacity, the pace at which
        a full window refills, starting from the last request sent. While
        requests wait in line, a window's worth sent at once would have the
        next ones wait for the whole window to slide; at the refill pace every
        slot is still used once a window, and the wait is shared evenly.
        """
        capacity = self.capacity
        if capacity is None:
            while True:
                yield start
        held_for = self.held_for()
        first = bisect.bisect_right(self._sent, start - held_for + TIE, self._head)
        live = self._sent[first:]
        free = capacity - len(live)
        known = itertools.chain(
            itertools.repeat(start, max(free, 0)),
            (max(sent + held_for, start) for sent in live[max(-free, 0) :]),
        )
        gap = self.length / capacity if paced and capacity > 0 else 0.0
        last = self._sent[-1] if gap and len(self._sent) > self._head else -math.inf
        taken: deque[float] = deque()  # each slot, once taken, frees again a window later
        for when in itertools.chain(known, _again(taken, held_for)):
            last = max(when, last + gap)
            taken.append(last)
            yield last

    def held_for(self) -> float:
        """Seconds a request holds its slot, as far as sending goes: the window and the margin."""
        return self.length * (1 + self.margin)

    def short_room_at(self, now: float) -> float | None:
        """When to ask once at the 1 s window's pace (`now` or later), None if not to.

        Only while the length is unproven, with no such request out, and once
        a 1 s window would hold none of ours: then an answer proves the short
        window whatever its capacity. (The capacity read while the window was
        thought to be 10 s long can be too large for 1 s: answers that come a
        second after their request count requests a 1 s window has let go.)
        """
        if self.settled or self.trial is not None or self.capacity is None or self.length != LONG:
            return None
        if len(self._sent) == self._head:
            return now
        return max(now, self._sent[-1] + SHORT * (1 + self.margin))


def _again(taken: deque[float], held_for: float) -> Iterator[float]:
    """The slots after the known ones: each taken slot frees once more `held_for` later."""
    while taken:
        yield taken.popleft() + held_for
