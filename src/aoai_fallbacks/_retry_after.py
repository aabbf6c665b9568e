"""How long a throttled backend asks us to stay away, read from its answer's headers.

Azure OpenAI says it several ways, and not always: `retry-after-ms` (the most
precise), `retry-after` (whole seconds, or an HTTP-date as RFC 9110 allows),
and the OpenAI-style `x-ratelimit-reset-requests` / `-tokens` (plain seconds
or Go-style durations such as ``6s``, ``1m30s``, ``250ms``). Some services
send ``-1`` for "unknown". A wrong number here either hammers a throttled
backend or benches a healthy one, so anything that is not a clean,
non-negative, finite value is ignored and the next source is tried; when none
is usable the answer is ``None`` and the balancer applies its default.
"""

from __future__ import annotations

import datetime
import email.utils
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Hint", "header", "parse_duration", "parse_retry_after", "retry_after_hint"]

_DURATION = re.compile(
    r"(?:(?P<h>\d+(?:\.\d+)?)h)?"
    r"(?:(?P<m>\d+(?:\.\d+)?)m(?!s))?"
    r"(?:(?P<s>\d+(?:\.\d+)?)s)?"
    r"(?:(?P<ms>\d+(?:\.\d+)?)ms)?"
)
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def header(headers: Mapping[str, str], name: str) -> str | None:
    """`headers[name]`, case-insensitively, for any mapping (lower-case `name`).

    `httpx` headers are already case-insensitive; a plain dict built by hand
    or by another client may not be, so fall back to a scan.
    """
    value = headers.get(name)
    if value is not None:
        return value
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _number(text: str | None) -> float | None:
    """A finite, non-negative float, or None for missing, `-1`, NaN, inf and garbage."""
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return value


def parse_duration(text: str | None) -> float | None:
    """Seconds in a reset header: ``"6"``, ``"0.5"``, ``"6s"``, ``"1m30s"``, ``"250ms"``, ``"1h"``."""
    seconds = _number(text)
    if seconds is not None or text is None:
        return seconds
    match = _DURATION.fullmatch(text.strip())
    if match is None or not any(match.groupdict().values()):
        return None
    seconds = sum(
        float(value) * _UNIT_SECONDS[unit] for unit, value in match.groupdict().items() if value
    )
    return seconds if math.isfinite(seconds) else None  # 400 digits and an "h" are infinite


def _http_date(text: str, now_wall: float) -> float | None:
    """Seconds from `now_wall` until an HTTP-date; a date already past means "now" (0)."""
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" or no zone: HTTP-dates are always GMT (RFC 9110)
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(when.timestamp() - now_wall, 0.0)


@dataclass(frozen=True, slots=True)
class Hint:
    """A backend's word on how long to stay away.

    `exact`: to the millisecond (`retry-after-ms`, or a reset header), so the
    next slot frees then. Otherwise (`retry-after` in whole seconds, rounded up,
    or as an HTTP-date) it is an upper bound: the slot may free up to a second
    sooner, which the balancer's model of the window can tell.
    """

    seconds: float
    exact: bool


def retry_after_hint(headers: Mapping[str, str], *, now_wall: float) -> Hint | None:
    """The most precise wait a 429 (or 503) names, or None if it did not say.

    Order: `retry-after-ms`; then the later of `x-ratelimit-reset-requests`
    and `x-ratelimit-reset-tokens` (with no hint about which limit was hit,
    waiting for both avoids an immediate second 429) unless `retry-after` says
    less; then `retry-after` (seconds or HTTP-date, read against `now_wall`,
    the wall clock's `time()`).
    """
    millis = _number(header(headers, "retry-after-ms"))
    if millis is not None:
        return Hint(millis / 1000.0, exact=True)
    upper: float | None = None
    text = header(headers, "retry-after")
    if text is not None:
        upper = _number(text)
        if upper is None:
            upper = _http_date(text, now_wall)
    resets = [
        value
        for name in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens")
        if (value := parse_duration(header(headers, name))) is not None
    ]
    if resets and (upper is None or max(resets) <= upper):
        return Hint(max(resets), exact=True)
    return None if upper is None else Hint(upper, exact=False)


def parse_retry_after(headers: Mapping[str, str], *, now_wall: float) -> float | None:
    """Seconds to wait before the next request to this backend, or None if it did not say.

    `retry_after_hint`'s seconds: see there for the order of the headers.
    """
    hint = retry_after_hint(headers, now_wall=now_wall)
    return None if hint is None else hint.seconds
