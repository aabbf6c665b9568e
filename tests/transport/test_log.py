"""The redacting filter: no key or token reaches a log handler, whoever wrote the message."""

from __future__ import annotations

import logging

import pytest

from aoai_fallbacks._log import REDACTED, logger, redact, register_secret

KEY = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    "text",
    [
        f"headers: {{'api-key': '{KEY}'}}",
        f'"api-key": "{KEY}"',
        f"api_key={KEY}",
        f"API-KEY: {KEY}",
        f"[(b'api-key', b'{KEY}')]",
        f"Authorization: Bearer {KEY}",
        f"authorization: bearer {KEY}==",
    ],
)
def test_header_shaped_secrets_are_redacted(text: str) -> None:
    assert KEY not in redact(text)
    assert REDACTED in redact(text)


def test_a_registered_key_is_redacted_anywhere() -> None:
    secret = "registered-secret-value-123"
    assert redact(f"weird {secret}!") == f"weird {secret}!"
    register_secret(secret)
    assert redact(f"weird {secret}!") == f"weird {REDACTED}!"


def test_short_values_are_not_registered() -> None:
    register_secret("ab")
    assert redact("a cab ab") == "a cab ab"


def test_the_logger_redacts_messages_args_and_tracebacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="aoai_fallbacks")
    logger.info("sending with %s", {"api-key": KEY})
    try:
        raise RuntimeError(f"Authorization: Bearer {KEY}")
    except RuntimeError:
        logger.exception("failed")
    text = caplog.text
    assert "sending with" in text
    assert "failed" in text
    assert "RuntimeError" in text
    assert KEY not in text
