"""Azure-style quotas: requests and tokens counted over sliding windows on an injected clock.

Azure enforces a deployment's limits over short windows rather than per
calendar minute, and charges each request on arrival by its estimate. The
emulator keeps two sliding windows per deployment:

* **requests**: RPM/6 requests per 10 s, as Azure documents it, or RPM/60 per
  1 s, as some deployments enforce it (`request_window`). A deployment whose
  RPM gives no whole request per window gets a longer one: under 6 RPM, its RPM
  over 60 s; under 60 RPM on the 1 s window, one request per 60/RPM seconds,
  so it still cannot burst (30 RPM: one request every 2 s).
* **tokens**: the full TPM over a sliding 60 s. A 10 s window of TPM/6 would
  reject outright every request estimated above a sixth of the TPM, which Azure
  does not; over the minute any request up to the TPM can pass, bursts drain
  the quota the way clients see it in production, and the retry-after is the
  exact time until enough earlier charges age out of the window.

A request larger than a whole window can never pass: it is answered 429 with
the window's full length as its retry-after, the longest a caller could need.

A `Neighbour` (another app on the deployment) spends its share before every
answer: each of its arrivals due by then is charged at its own timestamp, so
the windows stay exact however rarely the quota is consulted.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass
from typing import Literal, Protocol

from aoai_fallbacks._wire import RetryAfter, whole_seconds
from aoai_fallbacks.emulator._neighbour import Neighbour

REQUEST_WINDOW_SECONDS = 10.0
REQUEST_WINDOWS = (1.0, REQUEST_WINDOW_SECONDS)
"""The request windows Azure deployments use, in seconds."""
MINUTE = 60.0
TOKEN_WINDOW_SECONDS = MINUTE
RPM_PER_1000_TPM = 6


class MonotonicClock(Protocol):
    """All the quota needs of a clock."""

    def monotonic(self) -> float: ...


def default_rpm(tpm: int) -> int:
    """Azure's default ratio: 6 requests per minute for every 1,000 tokens per minute."""
    return tpm * RPM_PER_1000_TPM // 1000


class SlidingWindow:
    """Charges over the last `length` seconds, never more than `capacity` in total."""

    def __init__(self, capacity: int, length: float) -> None:
        self.capacity = capacity
        self.length = length
        self._charges: deque[tuple[float, int]] = deque()
        self._used = 0

    def _expire(self, now: float) -> None:
        while self._charges and self._charges[0][0] + self.length <= now:
            self._used -= self._charges.popleft()[1]

    def remaining(self, now: float) -> int:
        self._expire(now)
        return max(self.capacity - self._used, 0)

    @property
    def per_second(self) -> float:
        """The requests (or tokens) the window admits per second, at most."""
        return self.capacity / self.length

    def wait_for(self, cost: int, now: float) -> float:
        """Seconds until `cost` fits: 0 when it fits now, the window length when it never will."""
        self._expire(now)
        if cost > self.capacity:
            return self.length
        excess = self._used + cost - self.capacity
        if excess <= 0:
            return 0.0
        for charged_at, amount in self._charges:
            excess -= amount
            if excess <= 0:
                return charged_at + self.length - now
        raise AssertionError("a charge that fits the capacity always fits once the window empties")

    def charge(self, cost: int, now: float) -> None:
        self._charges.append((now, cost))
        self._used += cost

    def clear(self) -> None:
        self._charges.clear()
        self._used = 0


def request_window(rpm: int, length: float) -> SlidingWindow:
    """The window of `rpm` requests a minute counted over `length` (1 or 10) seconds."""
    windows_per_minute = round(MINUTE / length)
    if rpm >= windows_per_minute:
        return SlidingWindow(rpm // windows_per_minute, length)
    if length < REQUEST_WINDOW_SECONDS and rpm > 0:
        return SlidingWindow(1, MINUTE / rpm)
    return SlidingWindow(rpm, MINUTE)


@dataclass(frozen=True)
class Admission:
    """The quota's answer to one request."""

    admitted: bool
    retry_after: float
    """Seconds until the request would be admitted; 0 when it was."""
    limit: Literal["requests", "tokens"] | None
    """Which limit refused it, None when admitted."""
    remaining_requests: int
    remaining_tokens: int
    early: bool = False
    """Refused, and sent before an earlier refusal's retry-after had passed."""


class Quota:
    """One deployment's request and token windows, and its neighbour's use of them. Thread-safe.

    `neighbour`: the share (0 to 1) of the requests the deployment admits per
    second that another app sends, each estimated at the deployment's tokens
    per request (TPM/RPM), so it spends about that share of both limits;
    `seed` fixes its arrivals.
    """

    def __init__(
        self,
        *,
        tpm: int,
        rpm: int,
        clock: MonotonicClock,
        request_window_seconds: float = REQUEST_WINDOW_SECONDS,
        neighbour: float = 0.0,
        seed: str = "",
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.requests = request_window(rpm, request_window_seconds)
        self.tokens = SlidingWindow(tpm, TOKEN_WINDOW_SECONDS)
        self._refused_until = -math.inf  # the latest retry-after announced, as a time
        self.neighbour = Neighbour(
            rate=neighbour * self.requests.per_second,
            cost=max(tpm // max(rpm, 1), 1),
            seed=seed,
            start=clock.monotonic(),
        )

    def _serve_neighbour(self, now: float) -> None:
        """Charge every neighbour arrival due by `now`, each at its own time, in order."""
        neighbour = self.neighbour
        while neighbour.next_arrival <= now:
            at = neighbour.arrive()
            if self.requests.remaining(at) >= 1 and self.tokens.remaining(at) >= neighbour.cost:
                self.requests.charge(1, at)
                self.tokens.charge(neighbour.cost, at)
                neighbour.served += 1
            else:
                neighbour.throttled += 1

    def admit(self, cost: int, *, announce: RetryAfter = "ms") -> Admission:
        """Charge one request estimated at `cost` tokens, or say how long until it would fit.

        `announce`: how precisely a refusal tells the caller its retry-after
        ("ms": exactly, "seconds": rounded up, "none": not at all), so that a
        refusal before the time it was told has passed is `early`. A caller
        cannot be early for a time it was not told.
        """
        with self._lock:
            now = self._clock.monotonic()
            self._serve_neighbour(now)
            wait_requests = self.requests.wait_for(1, now)
            wait_tokens = self.tokens.wait_for(cost, now)
            admitted = wait_requests == 0 and wait_tokens == 0
            if admitted:
                self.requests.charge(1, now)
                self.tokens.charge(cost, now)
            limit: Literal["requests", "tokens"] | None = None
            retry_after = max(wait_requests, wait_tokens)
            early = False
            if not admitted:
                limit = "tokens" if wait_tokens >= wait_requests else "requests"
                early = now < self._refused_until
                if announce != "none":
                    told = retry_after if announce == "ms" else whole_seconds(retry_after)
                    self._refused_until = max(self._refused_until, now + told)
            return Admission(
                admitted=admitted,
                retry_after=retry_after,
                limit=limit,
                remaining_requests=self.requests.remaining(now),
                remaining_tokens=self.tokens.remaining(now),
                early=early,
            )

    def remaining(self) -> tuple[int, int]:
        """(requests, tokens) left in their windows right now."""
        with self._lock:
            now = self._clock.monotonic()
            self._serve_neighbour(now)
            return self.requests.remaining(now), self.tokens.remaining(now)

    def resets(self, cost: int) -> tuple[float, float]:
        """Seconds until the (request, token) windows would admit one more request of `cost`."""
        with self._lock:
            now = self._clock.monotonic()
            self._serve_neighbour(now)
            return self.requests.wait_for(1, now), self.tokens.wait_for(cost, now)

    def neighbour_counts(self) -> tuple[int, int]:
        """(served, throttled) requests of the neighbour, up to now."""
        with self._lock:
            self._serve_neighbour(self._clock.monotonic())
            return self.neighbour.served, self.neighbour.throttled

    def clear(self) -> None:
        """Empty both windows and start the neighbour's arrivals again from now."""
        with self._lock:
            self.requests.clear()
            self.tokens.clear()
            self._refused_until = -math.inf
            self.neighbour.restart(self._clock.monotonic())
