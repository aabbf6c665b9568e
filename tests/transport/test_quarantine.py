"""What quarantines a backend, and what does not (issue 10, items 1 and 5).

Only an answer about the deployment itself says a backend is misconfigured:
``DeploymentNotFound``, a 401/403 to a request naming the deployment, or no
Entra ID token for it. A 404 for a file, a batch or a stored response is the
caller's answer, handed back unchanged from the one backend that gave it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from aoai_fallbacks import Balancer, NoBackendAvailableError, balanced_openai_client
from aoai_fallbacks._auth import entra_token_provider
from aoai_fallbacks.emulator import DeploymentConfig, run_emulator
from aoai_fallbacks.errors import UnroutableError
from aoai_fallbacks.testing import FakeClock
from aoai_fallbacks.transport import BACKEND_HEADER

from ._support import PROMPT, ask, backends_of

pytestmark = pytest.mark.integration

GPT = DeploymentConfig("gpt-35-turbo", tpm=1_000_000)

LOOKUPS: dict[str, Callable[[openai.AzureOpenAI], Any]] = {
    "file": lambda client: client.files.retrieve("file-missing"),
    "batch": lambda client: client.batches.retrieve("batch_missing"),
    "response": lambda client: client.responses.retrieve("resp_missing"),
}


@pytest.mark.parametrize("lookup", LOOKUPS.values(), ids=LOOKUPS.keys())
def test_a_file_batch_or_response_of_no_known_resource_is_refused_and_quarantines_nothing(
    clock: FakeClock, lookup: Callable[[openai.AzureOpenAI], Any]
) -> None:
    with run_emulator(2, [GPT], clock=clock) as emu:
        balancer = Balancer(backends_of(emu, AOAI_PRIORITY_02="2"), clock=clock)
        client = balanced_openai_client(balancer=balancer)
        for _ in range(4):
            with pytest.raises(UnroutableError) as caught:
                lookup(client)
            assert isinstance(caught.value, openai.NotFoundError)
            assert caught.value.code == "UnknownObject"
            assert "missing" in str(caught.value)
        assert [(s.state, s.failed) for s in balancer.snapshot()] == [("available", 0)] * 2
        assert ask(client) == "01"


def test_when_every_backend_is_quarantined_the_error_names_them_and_their_cause(
    clock: FakeClock,
) -> None:
    with run_emulator(2, [GPT], clock=clock) as emu:
        balancer = Balancer(backends_of(emu, deployment="gpt-gone"), clock=clock)
        client = balanced_openai_client(balancer=balancer)
        with pytest.raises(openai.NotFoundError):  # what both backends answered
            ask(client)
        clock.advance(10)
        with pytest.raises(NoBackendAvailableError) as caught:
            ask(client)
        error = caught.value
        message = str(error)
        assert "01 quarantined (DeploymentNotFound, 290.0 s left)" in message
        assert "02 quarantined (DeploymentNotFound, 290.0 s left)" in message
        assert "every backend is quarantined as misconfigured" in message
        assert "recover" not in message  # it used to say "the first should recover in 300 s"
        assert error.retry_after is None  # a misconfiguration does not pass by itself
        assert "retry-after" not in error.response.headers
        assert emu.stats("gpt-gone").requests == 2


@pytest.fixture
def no_entra_sign_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """DefaultAzureCredential with no sign-in to find: only the Azure CLI, and no ``az``."""
    pytest.importorskip("azure.identity")
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential")
    monkeypatch.setenv("PATH", str(tmp_path))
    entra_token_provider.cache_clear()
    yield
    entra_token_provider.cache_clear()


@pytest.mark.usefixtures("no_entra_sign_in")
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_backend_without_an_entra_id_token_is_quarantined_and_the_request_moves_on(
    clock: FakeClock, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    caplog.set_level(logging.INFO, logger="aoai_fallbacks")
    with run_emulator(2, [GPT], clock=clock) as emu:
        first, second = backends_of(emu, AOAI_PRIORITY_02="2")
        keyless = dataclasses.replace(first, api_key=None)  # signs in with Entra ID
        balancer = Balancer([keyless, second], clock=clock)

        def twice() -> list[str]:
            if mode == "sync":
                client = balanced_openai_client(balancer=balancer)
                return [ask(client), ask(client)]

            async def both() -> list[str]:
                client = balanced_openai_client(balancer=balancer, async_=True)
                answers = []
                for _ in range(2):
                    raw = await client.chat.completions.with_raw_response.create(
                        model="ignored", messages=PROMPT, max_tokens=20
                    )
                    answers.append(raw.headers[BACKEND_HEADER])
                return answers

            return asyncio.run(both())

        assert twice() == ["02", "02"]  # it used to raise APIConnectionError
        status = balancer.snapshot()[0]
        assert (status.state, status.reason) == (
            "quarantined",
            "no Entra ID token: ClientAuthenticationError: DefaultAzureCredential failed "
            "to retrieve a token from the included credentials.",
        )
        warnings = [
            r.getMessage()
            for r in caplog.records
            if r.name == "aoai_fallbacks" and r.levelno == logging.WARNING
        ]
        assert warnings == [
            f"backend 01 (gpt-35-turbo) is misconfigured ({status.reason}): quarantined for "
            "300 s; check its Microsoft Entra ID sign-in, or give it a key (AOAI_KEY_nn)"
        ]
        assert emu.resources[0].stats("gpt-35-turbo").requests == 0


@pytest.mark.usefixtures("no_entra_sign_in")
def test_when_no_backend_gets_a_token_the_error_lists_why(clock: FakeClock) -> None:
    with run_emulator(2, [GPT], clock=clock) as emu:
        backends = [dataclasses.replace(b, api_key=None) for b in backends_of(emu)]
        client = balanced_openai_client(balancer=Balancer(backends, clock=clock))
        with pytest.raises(NoBackendAvailableError) as caught:
            ask(client)
        assert sorted((a.backend, a.outcome, a.status) for a in caught.value.attempts) == [
            ("01", "misconfigured", None),
            ("02", "misconfigured", None),
        ]
        assert "no Entra ID token" in str(caught.value)
