"""Retry-After parsing: every header Azure and OpenAI use, in the right order, garbage ignored."""

from __future__ import annotations

import email.utils

import pytest

from aoai_fallbacks._retry_after import parse_duration, parse_retry_after
from aoai_fallbacks.testing import FakeClock

NOW = FakeClock().time()


def parse(**headers: str) -> float | None:
    return parse_retry_after({k.replace("_", "-"): v for k, v in headers.items()}, now_wall=NOW)


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert parse(retry_after_ms="1500", retry_after="7") == 1.5


def test_retry_after_seconds_integer_and_float() -> None:
    assert parse(retry_after="7") == 7.0
    assert parse(retry_after=" 2.5 ") == 2.5


def test_retry_after_http_date_is_read_against_the_wall_clock() -> None:
    assert parse(retry_after=email.utils.formatdate(NOW + 30, usegmt=True)) == 30.0
    # "-0000" (zone unknown) is still GMT for HTTP
    assert parse(retry_after=email.utils.formatdate(NOW + 12)) == 12.0


def test_http_date_in_the_past_means_now() -> None:
    assert parse(retry_after=email.utils.formatdate(NOW - 100, usegmt=True)) == 0.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6s", 6.0),
        ("1m30s", 90.0),
        ("250ms", 0.25),
        ("1m", 60.0),
        ("1h", 3600.0),
        ("1h2m3.5s", 3723.5),
        ("1s500ms", 1.5),
        ("2", 2.0),
        ("0.5", 0.5),
    ],
)
def test_reset_headers_accept_seconds_and_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
    assert parse(x_ratelimit_reset_requests=text) == seconds
    assert parse(x_ratelimit_reset_tokens=text) == seconds


@pytest.mark.parametrize("text", ["", "s", "ms", "5x", "1s2m", "-3s", "soon", "1.2.3s"])
def test_garbage_durations_are_ignored(text: str) -> None:
    assert parse_duration(text) is None


def test_reset_headers_come_after_retry_after_and_the_later_one_counts() -> None:
    assert parse(retry_after="4", x_ratelimit_reset_tokens="20s") == 4.0
    assert parse(x_ratelimit_reset_requests="2s", x_ratelimit_reset_tokens="20s") == 20.0


@pytest.mark.parametrize("bad", ["-1", "-5", "nan", "inf", "-inf", "soon", "", "1e400"])
def test_unusable_values_fall_through_to_the_next_header(bad: str) -> None:
    assert parse(retry_after_ms=bad, retry_after="4") == 4.0
    assert parse(retry_after=bad, x_ratelimit_reset_requests="3s") == 3.0
    assert parse(retry_after_ms=bad, retry_after=bad, x_ratelimit_reset_tokens=bad) is None


def test_zero_is_a_valid_answer() -> None:
    assert parse(retry_after="0") == 0.0
    assert parse(retry_after_ms="0", retry_after="9") == 0.0


def test_no_headers_means_none() -> None:
    assert parse() is None
    assert parse(x_request_id="abc") is None


def test_header_names_are_case_insensitive_even_in_a_plain_dict() -> None:
    assert parse_retry_after({"Retry-After-Ms": "250", "Retry-After": "9"}, now_wall=NOW) == 0.25
    assert parse_retry_after({"RETRY-AFTER": "9"}, now_wall=NOW) == 9.0


def test_a_duration_too_large_for_a_float_is_ignored() -> None:
    """400 digits before an "h" made an infinite wait (found by tests/core/test_properties.py)."""
    endless = "9" * 400 + "h"
    assert parse_duration(endless) is None
    assert parse(x_ratelimit_reset_requests=endless, x_ratelimit_reset_tokens="6s") == 6.0
