"""Another app on the same deployment: a seeded stream of requests the balancer never sees.

In production a deployment's quota is often shared with other apps, so a
client finds less room than its own traffic explains. The neighbour models
one such app without a background task, so it works on any injected clock and
repeats run to run: its arrivals are a Poisson process whose timestamps are
drawn lazily from a seeded generator, and the quota charges every arrival due
at each consultation, at its own timestamp, before it answers the caller.
"""

from __future__ import annotations

import math
import random


class Neighbour:
    """The arrival times of another client, and how many of its requests were served.

    `rate` is requests per second (0: none ever arrive); `cost` the tokens each
    one is charged. A refused arrival is counted in `throttled` and not retried.
    """

    def __init__(self, *, rate: float, cost: int, seed: str, start: float) -> None:
        self.rate = rate
        self.cost = cost
        self._seed = seed
        self.served = 0
        self.throttled = 0
        self._rng = random.Random(seed)
        self.next_arrival = math.inf
        self.restart(start)

    def _gap(self) -> float:
        return self._rng.expovariate(self.rate) if self.rate > 0 else math.inf

    def restart(self, start: float) -> None:
        """Forget the counts and draw the same arrivals again, from `start`."""
        self.served = 0
        self.throttled = 0
        self._rng = random.Random(self._seed)
        self.next_arrival = start + self._gap()

    def arrive(self) -> float:
        """The time of the next arrival, which is now taken; draws the one after it."""
        at = self.next_arrival
        self.next_arrival = at + self._gap()
        return at
