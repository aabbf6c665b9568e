"""Azure-style quotas: requests and tokens counted over sliding windows on an injected clock.

Azure enforces a deployment's limits over short windows rather than per
calendar minute, and charges each request on arrival by its estimate. The
emulator keeps two sliding windows per deployment:

* **requests**: RPM/6 requests per 10 s, as Azure documents it. A deployment
  with fewer than 6 RPM has no whole request per 10 s, so it gets its RPM over
  60 s instead.
* **tokens**: the full TPM over a sliding 60 s. A 10 s window of TPM/6 would
  reject outright every request estimated above a sixth of the TPM, which Azure
  does not; over the minute any request up to the TPM can pass, bursts drain
  the quota the way clients see it in production, and the retry-after is the
  exact time until enough earlier charges age out of the window.

A request larger than a whole window can never pass: it is answered 429 with
the window's full length as its retry-after, the longest a caller could need.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass
from typing import Literal, Protocol

REQUEST_WINDOW_SECONDS = 10.0
TOKEN_WINDOW_SECONDS = 60.0
RPM_PER_1000_TPM = 6
REQUEST_WINDOWS_PER_MINUTE = 6


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
    """One deployment's request and token windows. Thread-safe."""

    def __init__(self, *, tpm: int, rpm: int, clock: MonotonicClock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        if rpm >= REQUEST_WINDOWS_PER_MINUTE:
            per_window = rpm // REQUEST_WINDOWS_PER_MINUTE
            self.requests = SlidingWindow(per_window, REQUEST_WINDOW_SECONDS)
        else:
            self.requests = SlidingWindow(rpm, TOKEN_WINDOW_SECONDS)
        self.tokens = SlidingWindow(tpm, TOKEN_WINDOW_SECONDS)
        self._refused_until = -math.inf  # the latest retry-after announced, as a time

    def admit(self, cost: int, *, announce: bool = True) -> Admission:
        """Charge one request estimated at `cost` tokens, or say how long until it would fit.

        `announce`: a refusal tells the caller its retry-after, so a refusal
        before that time has passed is `early`. False when the 429 goes out
        without the headers: a caller cannot be early for a time it was not told.
        """
        with self._lock:
            now = self._clock.monotonic()
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
                if announce:
                    self._refused_until = max(self._refused_until, now + retry_after)
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
            return self.requests.remaining(now), self.tokens.remaining(now)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self.tokens.clear()
            self._refused_until = -math.inf
