"""The redacting filter: no key or token reaches a log handler, whoever wrote the message."""

from __future__ import annotations

import logging

import pytest

from aoai_fallbacks._log import (
    MAX_TOKENS,
    REDACTED,
    logger,
    redact,
    register_secret,
    register_token,
)

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


def test_rotated_tokens_are_remembered_only_while_they_may_be_in_use() -> None:
    """Issue 10: every Entra ID token ever sent stayed in the set each record is searched for."""
    key = "a-key-registered-before-the-tokens-0042"
    register_secret(key)
    tokens = [f"eyJ0eXAi.rotated-token-{n:05d}.sig" for n in range(10 * MAX_TOKENS)]
    for token in tokens:
        register_token(token)
        register_token(token)  # every request sends the current token again
    recent = tokens[-MAX_TOKENS:]
    assert all(redact(f"got {t}") == f"got {REDACTED}" for t in recent)
    assert redact(f"got {tokens[0]}") == f"got {tokens[0]}"  # long expired, forgotten
    assert redact(f"key {key}") == f"key {REDACTED}"  # keys are kept for good


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
