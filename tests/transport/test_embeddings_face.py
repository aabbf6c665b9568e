"""`balanced_embeddings()`: a genuine `AzureOpenAIEmbeddings` on the chat model's balancer."""

from __future__ import annotations

import asyncio

import pytest
from langchain_openai import AzureOpenAIEmbeddings

from aoai_fallbacks import (
    Balancer,
    ConfigError,
    balanced_chat_model,
    balanced_embeddings,
)
from aoai_fallbacks.emulator import DeploymentConfig, run_emulator
from aoai_fallbacks.testing import FakeClock

from ._support import backends_of

pytestmark = pytest.mark.integration

CHAT = DeploymentConfig("gpt-4o", tpm=1_000_000)
EMBED = DeploymentConfig("text-embedding-3-small", kind="embeddings", tpm=1_000_000)
OFFLINE = {"check_embedding_ctx_length": False}  # no tiktoken download


def test_embeddings_and_chat_share_one_balancer_and_keep_their_own_pools(
    clock: FakeClock,
) -> None:
    with run_emulator(2, [CHAT, EMBED], clock=clock) as emu:
        backends = backends_of(emu)
        embeddings = balanced_embeddings(backends, **OFFLINE)
        chat = balanced_chat_model(backends, max_tokens=10)
        assert isinstance(embeddings, AzureOpenAIEmbeddings)
        assert embeddings.balancer is chat.balancer
        emu.resources[0].set_faults(EMBED.name, gateway_429=30)
        emu.resources[1].set_faults(CHAT.name, gateway_429=30)
        vectors = embeddings.embed_documents(["a", "b", "c"])
        query = asyncio.run(embeddings.aembed_query("a"))
        assert chat.invoke("hi").content
        assert len(vectors) == 3
        assert len(query) == 1536
        assert [r.stats(EMBED.name).served for r in emu.resources] == [0, 2]
        assert [r.stats(CHAT.name).served for r in emu.resources] == [1, 0]


def test_dimensions_are_passed_through(clock: FakeClock) -> None:
    with run_emulator(1, [CHAT, EMBED], clock=clock) as emu:
        balancer = Balancer(backends_of(emu), clock=clock)
        embeddings = balanced_embeddings(balancer=balancer, dimensions=256, **OFFLINE)
        assert len(embeddings.embed_query("short")) == 256


def test_without_an_embedding_deployment_the_face_names_the_variable(clock: FakeClock) -> None:
    with run_emulator(1, [CHAT], clock=clock) as emu:
        backends = backends_of(emu)
    with pytest.raises(ConfigError, match="set AOAI_EMBEDDING_DEPLOYMENT"):
        balanced_embeddings(backends)
    with pytest.raises(ConfigError, match="do not pass api_key"):
        balanced_embeddings(backends, api_key="k")
