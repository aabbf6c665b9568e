"""Misbehaviour on demand: what a deployment should do wrong, and the seeded dice for it.

A `Faults` value is per deployment, set when the emulator starts and
replaceable while it runs (`Resource.set_faults` or the admin route), so a test
can open an outage window, close it again and watch the client recover.
"""

from __future__ import annotations

import random
import reprlib
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

ERROR_STATUSES = (500, 503)
MAX_SECONDS = 86_400
"""The longest latency or time to first token: a day (`hang` waits for ever)."""


class InvalidFault(ValueError):
    """A fault set to a value of the wrong type or out of range; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _shown(value: object) -> str:
    """A rejected value, shortened for a message."""
    try:
        return reprlib.repr(value)
    except ValueError:  # an integer with more digits than Python will print
        return "an integer too long to show"


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _seconds(value: object) -> bool:
    return _number(value) and 0 <= value <= MAX_SECONDS  # type: ignore[operator]


def _flag(value: object) -> bool:
    return isinstance(value, bool)


_RULES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "latency": (f"a number of seconds from 0 to {MAX_SECONDS}", _seconds),
    "ttft": (f"a number of seconds from 0 to {MAX_SECONDS}", _seconds),
    "error_rate": ("a share from 0 to 1", lambda value: _number(value) and 0 <= value <= 1),
    "error_status": ("500 or 503", lambda value: _count(value) and value in ERROR_STATUSES),
    "hang": ("true or false", _flag),
    "drop_after_chunks": (
        "a count of chunks or null",
        lambda value: value is None or _count(value),
    ),
    "omit_retry_after": ("true or false", _flag),
    "outage": ("true or false", _flag),
    "gateway_429": (
        f"null or a number of seconds from 0 to {MAX_SECONDS}",
        lambda value: value is None or _seconds(value),
    ),
}
"""What each fault may be set to, as a phrase for the refusal and a check.

Types are checked, not only ranges, because the admin route takes JSON: a
string "no" would otherwise switch a fault on, and NaN would pass every range
check and then break every answer that shows the faults."""


@dataclass
class Faults:
    """What one deployment does wrong; everything off by default."""

    latency: float = 0.0
    """The model's time on a request it admitted (or failed with `error_rate`), in seconds.

    Refusals (429, 400, 401, 404) and outages answer at once, as Azure's do.
    """
    ttft: float = 0.0
    """Seconds between a stream's headers and its first chunk."""
    error_rate: float = 0.0
    """Share of requests (0 to 1) answered with `error_status` instead."""
    error_status: int = 500
    """500 or 503."""
    hang: bool = False
    """Never answer: the request waits until the client gives up."""
    drop_after_chunks: int | None = None
    """Cut a stream's connection after this many `data:` chunks."""
    omit_retry_after: bool = False
    """Answer 429s without `retry-after` / `retry-after-ms`, as some services do.

    While on, it overrides the deployment's `DeploymentConfig.retry_after` dialect
    with "none"; the reset headers of a deployment that sends them still go out.
    """
    outage: bool = False
    """Every request fails with 503 until this is turned off."""
    gateway_429: float | None = None
    """Refuse every request with a 429 asking to come back after this many seconds,
    before the quota sees it, as a gateway's own limit in front of a deployment does
    (some say 0: "at once"). The Retry-After headers follow the deployment's dialect."""

    def __post_init__(self) -> None:
        for name in self.field_names():
            value = getattr(self, name)
            expected, allowed = _RULES[name]
            if not allowed(value):
                raise InvalidFault(name, f"{name} must be {expected}, not {_shown(value)}")

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(field.name for field in fields(cls))

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.field_names()}


def roll_error(faults: Faults, rng: random.Random) -> bool:
    """Whether this request is one of the `error_rate` share that fails.

    The die is rolled only when a rate is set, so turning errors on does not
    shift the sequence of any other seeded choice.
    """
    return faults.error_rate > 0 and rng.random() < faults.error_rate
