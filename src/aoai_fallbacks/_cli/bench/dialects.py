"""The throttling dialects the closed loop is measured on: one emulated Azure each.

The balancer must use every slot of paid-for capacity whatever a deployment
says about throttling, not only in the emulator's default dialect, so the
closed loop runs once per dialect, each a `DeploymentConfig` for every
resource alike:

* ``ms``: `retry-after-ms` and `retry-after`, exact remaining counts (the default).
* ``seconds``: only a whole-second `retry-after`, with OpenAI's reset headers.
* ``none``: no retry-after at all; exact remaining counts.
* ``unknown``: `retry-after-ms`, but the remaining counts are both ``-1``.
* ``1s-window``: requests counted over a sliding 1 s, not 10 s. RPM/60 per
  second admits the same requests per second as RPM/6 per 10 s, so the RPM is
  unchanged; only the bursts a window allows shrink.
* ``neighbour``: the ``ms`` dialect, with another app spending 30% of each
  deployment's requests outside the balancer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aoai_fallbacks.emulator import DeploymentConfig

if TYPE_CHECKING:
    from aoai_fallbacks._wire import Remaining, RetryAfter

__all__ = ["DIALECTS", "Dialect", "parse_dialects"]


@dataclass(frozen=True)
class Dialect:
    """One way of speaking about throttling, as `DeploymentConfig` fields."""

    name: str
    description: str
    retry_after: RetryAfter = "ms"
    reset_headers: bool = False
    remaining_headers: Remaining = "exact"
    request_window: float = 10.0
    neighbour: float = 0.0

    def deployment(
        self, name: str, *, rpm: int, tpm: int, request_window: float | None = None
    ) -> DeploymentConfig:
        """The deployment `name` speaking this dialect; `request_window` overrides its window
        (the quick run counts every dialect over 1 s, to throttle within seconds)."""
        return DeploymentConfig(
            name,
            tpm=tpm,
            rpm=rpm,
            retry_after=self.retry_after,
            reset_headers=self.reset_headers,
            remaining_headers=self.remaining_headers,
            request_window=self.request_window if request_window is None else request_window,
            neighbour=self.neighbour,
        )


DIALECTS: tuple[Dialect, ...] = (
    Dialect("ms", "retry-after-ms and retry-after, exact remaining counts (the default)"),
    Dialect(
        "seconds",
        "whole-second retry-after only, reset headers, exact remaining counts",
        retry_after="seconds",
        reset_headers=True,
    ),
    Dialect("none", "no retry-after, exact remaining counts", retry_after="none"),
    Dialect("unknown", "retry-after-ms, remaining counts -1", remaining_headers="unknown"),
    Dialect(
        "1s-window",
        "requests counted over a sliding 1 s (same requests per second)",
        request_window=1.0,
    ),
    Dialect(
        "neighbour",
        "the ms dialect; another app spends 30% of each deployment's requests",
        neighbour=0.3,
    ),
)


def parse_dialects(names: str | None) -> tuple[Dialect, ...]:
    """The dialects named in a comma-separated list (None: all), in the order given.

    ValueError names the known ones when a name is not.
    """
    if names is None:
        return DIALECTS
    known = {dialect.name: dialect for dialect in DIALECTS}
    chosen: list[Dialect] = []
    for name in (part.strip() for part in names.split(",")):
        if name not in known:
            raise ValueError(f"unknown dialect {name!r}; known: {', '.join(known)}")
        chosen.append(known[name])
    return tuple(chosen)
