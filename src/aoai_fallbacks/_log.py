"""The `aoai_fallbacks` logger, and the filter that keeps secrets out of it.

Every module logs on the one ``aoai_fallbacks`` logger (not on children:
a logger's filters do not see records propagated from its children), so one
filter guards everything the library says. It redacts, in the formatted
message and in any traceback attached to it:

* the value of an ``api-key`` header or parameter, in any common spelling;
* a ``Bearer`` token;
* every key registered with `register_secret` (the transport registers its
  backends' keys), and the last `MAX_TOKENS` tokens registered with
  `register_token` (the Entra ID tokens it sends), wherever they appear.

A library must never log a credential, even at DEBUG and even in a message
someone else wrote (an SDK exception's text, a header dump): the filter runs
on every record, not only on ours.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback

__all__ = [
    "MAX_TOKENS",
    "REDACTED",
    "RedactingFilter",
    "logger",
    "redact",
    "register_secret",
    "register_token",
]

REDACTED = "[redacted]"

_MIN_SECRET = 4
"""Registered secrets shorter than this are not replaced: they would mangle ordinary words."""

_PATTERNS = (
    # api-key: abc / "api-key": "abc" / api_key=abc / ('api-key', 'abc') / b'api-key', b'abc'
    re.compile(
        r"""(?P<lead>api[-_ ]?key['"]?\s*(?:[:=]|,)\s*b?['"]?)(?P<secret>[^\s'",;)}\]]+)""",
        re.IGNORECASE,
    ),
    re.compile(r"(?P<lead>bearer\s+)(?P<secret>[A-Za-z0-9\-._~+/]+=*)", re.IGNORECASE),
)

MAX_TOKENS = 16
"""Tokens remembered by `register_token`, the newest.

An Entra ID token lives about an hour and the provider renews it a few
minutes before it expires, so a process holds one or two valid tokens at a
time per credential; older ones are expired, and a token written as a
``Bearer`` header is caught by the pattern anyway. A long-lived process
rotates through thousands: kept for ever, they would grow the set every record
is searched for without end.
"""

_lock = threading.Lock()
_keys: frozenset[str] = frozenset()
_tokens: tuple[str, ...] = ()  # the newest last
_secrets: frozenset[str] = frozenset()  # _keys and _tokens, what `redact` searches for


def register_secret(value: str | None) -> None:
    """Remember the key `value` for the life of the process: redacted wherever it appears."""
    global _keys, _secrets
    if value is None or len(value) < _MIN_SECRET or value in _keys:
        return
    with _lock:
        _keys = _keys | {value}
        _secrets = _keys | frozenset(_tokens)


def register_token(value: str | None) -> None:
    """Remember the token `value`, among the last `MAX_TOKENS`: redacted wherever it appears.

    Called for every request sent with a token, so the usual case (the
    current token again) takes no lock.
    """
    global _tokens, _secrets
    if value is None or len(value) < _MIN_SECRET or (_tokens and _tokens[-1] == value):
        return
    with _lock:
        kept = [token for token in _tokens if token != value][-(MAX_TOKENS - 1) :]
        _tokens = (*kept, value)
        _secrets = _keys | frozenset(_tokens)


def redact(text: str) -> str:
    """`text` with every key, token and registered secret replaced by ``[redacted]``."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group("lead") + REDACTED, text)
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """Rewrite each record so no credential reaches a handler; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            # What `logging.Formatter.formatException` would produce, redacted;
            # formatters use a record's `exc_text` when it is already set.
            text = "".join(traceback.format_exception(*record.exc_info))
            record.exc_text = redact(text.removesuffix("\n"))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


logger = logging.getLogger("aoai_fallbacks")
if not any(isinstance(f, RedactingFilter) for f in logger.filters):
    logger.addFilter(RedactingFilter())
