"""`fallback_embeddings`: one `AzureOpenAIEmbeddings` per embedding deployment, in turn."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.embeddings import Embeddings

from aoai_fallbacks import ConfigError, fallback_embeddings, load_backends
from aoai_fallbacks.emulator import DeploymentConfig, run_emulator
from aoai_fallbacks.testing import FakeClock

pytestmark = pytest.mark.integration

CHAT = DeploymentConfig("gpt-4o")
EMBED = DeploymentConfig("text-embedding-3-small", kind="embeddings", tpm=1_000_000)
OFFLINE = {"check_embedding_ctx_length": False}  # no tiktoken download


def test_a_throttled_or_misconfigured_deployment_hands_over_to_the_next() -> None:
    clock = FakeClock()
    with run_emulator(3, [CHAT, EMBED], clock=clock, keys=["k-one", "k-two", "k-three"]) as emu:
        variables = emu.env() | {"AOAI_KEY_02": "a-wrong-key-000"}
        embeddings = fallback_embeddings(load_backends(variables, dotenv=False), **OFFLINE)
        assert isinstance(embeddings, Embeddings)
        assert [m.deployment for m in embeddings.models] == [EMBED.name] * 3  # type: ignore[attr-defined]
        emu.resources[0].set_faults(EMBED.name, gateway_429=30)
        vectors = embeddings.embed_documents(["one", "two"])
        query = asyncio.run(embeddings.aembed_query("one"))
        assert len(vectors) == 2
        assert query == pytest.approx(vectors[0])
        served = [r.stats(EMBED.name).served for r in emu.resources]
        assert served == [0, 0, 2]
        assert [r.stats(CHAT.name).requests for r in emu.resources] == [0, 0, 0]


def test_only_the_last_keeps_its_retries() -> None:
    with run_emulator(2, [CHAT, EMBED]) as emu:
        embeddings = fallback_embeddings(
            load_backends(emu.env(), dotenv=False), last_max_retries=4, **OFFLINE
        )
        assert [m.max_retries for m in embeddings.models] == [0, 4]  # type: ignore[attr-defined]


def test_without_an_embedding_deployment_it_names_the_variable() -> None:
    with run_emulator(1, [CHAT]) as emu:
        backends = load_backends(emu.env(), dotenv=False)
    with pytest.raises(ConfigError, match="AOAI_EMBEDDING_DEPLOYMENT"):
        fallback_embeddings(backends)
