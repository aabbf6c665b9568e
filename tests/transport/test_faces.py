"""How the faces are built: from the environment, sharing one balancer, refusing what they own."""

from __future__ import annotations

import openai
import pytest

from aoai_fallbacks import (
    Balancer,
    ConfigError,
    balanced_chat_model,
    balanced_openai_client,
)
from aoai_fallbacks._client import http_client
from aoai_fallbacks.emulator import DeploymentConfig, run_emulator
from aoai_fallbacks.testing import FakeClock

from ._support import PROMPT, ask, backends_of

pytestmark = pytest.mark.integration

SMALL = DeploymentConfig("gpt-35-turbo", tpm=1_000)  # one request per 10 s window
BIG = DeploymentConfig("big", tpm=1_000_000)


def test_without_backends_the_faces_read_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object, clock: FakeClock
) -> None:
    with run_emulator(2, [DeploymentConfig("gpt-35-turbo")], clock=clock) as emu:
        monkeypatch.chdir(tmp_path)  # no stray .env
        for name, value in emu.env().items():
            monkeypatch.setenv(name, value)
        client = balanced_openai_client()
        assert isinstance(client, openai.AzureOpenAI)
        assert ask(client) in {"01", "02"}
        assert isinstance(balanced_openai_client(async_=True), openai.AsyncAzureOpenAI)
        assert balanced_chat_model(max_tokens=10).invoke("hi").content
        assert emu.stats("gpt-35-turbo").served == 2


def test_clients_sharing_a_balancer_share_what_it_learned(clock: FakeClock) -> None:
    with run_emulator(2, [SMALL, BIG], clock=clock) as emu:
        backends = backends_of(emu, AOAI_DEPLOYMENT_02="big", AOAI_PRIORITY_02="2")
        balancer = Balancer(backends, clock=clock)
        sdk = balanced_openai_client(balancer=balancer)
        model = balanced_chat_model(balancer=balancer, max_tokens=20)
        assert ask(sdk) == "01"  # its answer says no request is left in its window
        assert ask(sdk) == "02"  # so the next goes straight to 02, without a 429
        model.invoke("hi")  # and so does the model's: 01 is not asked again
        assert emu.resources[0].stats("gpt-35-turbo").requests == 1
        assert emu.resources[1].stats("big").served == 2
        assert clock.slept == []


@pytest.mark.parametrize("face", [balanced_openai_client, balanced_chat_model])
def test_backends_and_balancer_together_are_refused(clock: FakeClock, face: object) -> None:
    with run_emulator(1, [SMALL], clock=clock) as emu:
        backends = backends_of(emu)
        with pytest.raises(ConfigError, match="backends or balancer, not both"):
            face(backends, balancer=Balancer(backends))  # type: ignore[operator]


@pytest.mark.parametrize("option", ["api_key", "azure_endpoint", "max_retries", "http_client"])
def test_connection_settings_the_balancer_owns_are_refused(clock: FakeClock, option: str) -> None:
    with run_emulator(1, [SMALL], clock=clock) as emu:
        backends = backends_of(emu)
        for face in (balanced_openai_client, balanced_chat_model):
            with pytest.raises(ConfigError, match=option):
                face(backends, **{option: None})  # type: ignore[operator]


def test_the_v1_api_names_each_backends_deployment_in_the_body(clock: FakeClock) -> None:
    with run_emulator(2, [SMALL, BIG], clock=clock) as emu:
        backends = backends_of(emu, AOAI_DEPLOYMENT_02="big", AOAI_PRIORITY_02="2")
        balancer = Balancer(backends, clock=clock)
        client = openai.OpenAI(
            base_url="https://aoai-fallbacks.invalid/openai/v1/",
            api_key="placeholder",
            max_retries=0,
            http_client=http_client(balancer),
        )
        for _ in range(2):  # 01's "gpt-35-turbo" once, then (its window full) 02's "big"
            client.chat.completions.create(model="anything", messages=PROMPT, max_tokens=20)
        assert emu.resources[0].stats("gpt-35-turbo").served == 1
        assert emu.resources[0].stats("gpt-35-turbo").requests == 1
        assert emu.resources[1].stats("big").served == 1
