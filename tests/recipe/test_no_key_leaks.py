"""No key in any repr, str, log line or exception, whatever happens along the recipe."""

from __future__ import annotations

import logging
import traceback

import openai
import pytest

from aoai_fallbacks import ConfigError, fallback_chain, load_backends
from aoai_fallbacks.emulator import DeploymentConfig, run_emulator
from aoai_fallbacks.testing import FakeClock

from .conftest import drain

pytestmark = pytest.mark.integration

KEY_01 = "k01-DISTINCTIVE-9f3c2a7e5b1d4c8a"
KEY_02 = "k02-DISTINCTIVE-0e6d8b4f2a9c7e1b"
WRONG_KEY = "kxx-DISTINCTIVE-WRONG-77aa55cc33"
KEYS = (KEY_01, KEY_02, WRONG_KEY)
GPT35 = "gpt-35-turbo"


def _exception_text(error: BaseException) -> str:
    """Everything an exception shows: str, repr, traceback, and the same for its causes."""
    parts = ["".join(traceback.format_exception(error))]
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current), repr(getattr(current, "body", None))]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


def _assert_no_key(text: str) -> None:
    for key in KEYS:
        assert key not in text


def test_no_key_in_reprs_logs_or_exceptions(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # everyone's debug logs: openai, httpx, LangChain, ours
    deployments = [DeploymentConfig(GPT35, rpm=6)]
    with run_emulator(2, deployments, clock=clock, keys=[KEY_01, KEY_02]) as emu:
        backends = load_backends(emu.env())
        chain = fallback_chain(backends, max_tokens=10)
        shown = [repr(backends), str(backends), *map(str, backends), repr(chain), str(chain)]

        drain(emu.resources[0], GPT35)
        assert chain.invoke("Tell me a dad joke").content  # 01 throttled, 02 answers

        wrong = load_backends(emu.env() | {"AOAI_KEY_01": WRONG_KEY, "AOAI_KEY_02": WRONG_KEY})
        with pytest.raises(openai.AuthenticationError) as rejected:
            fallback_chain(wrong).invoke("Tell me a dad joke")
        shown.append(_exception_text(rejected.value))

        with pytest.raises(ConfigError) as refused:
            load_backends({"AOAI_KEY_07": KEY_01, **emu.env()})
        shown.append(_exception_text(refused.value))

    records = caplog.records
    assert any(r.name.startswith("openai") for r in records)  # debug logging was really on
    shown += [
        caplog.text,
        *(r.getMessage() for r in records),
        *(r.exc_text or "" for r in records),
    ]
    _assert_no_key("\n".join(shown))
