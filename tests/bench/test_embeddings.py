"""Embeddings beside chat through one balancer (`--workload embeddings`): the documents are
what the setup says, the cross-pool check catches a 429 charged to the wrong pool, and the
quick run ends on every dialect with no error and no cooldown crossing pools.

Never asserts times: only counts, and who was charged with which 429.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aoai_fallbacks._classify import Outcome, Verdict
from aoai_fallbacks._cli import main
from aoai_fallbacks._cli.bench.dialects import DIALECTS
from aoai_fallbacks._cli.bench.embeddings import (
    EmbeddingsSetup,
    attribute,
    documents,
    full_embeddings_setup,
    quick_embeddings_setup,
)
from aoai_fallbacks.balancer import Balancer
from aoai_fallbacks.config import Backend
from aoai_fallbacks.testing import FakeClock

ENDPOINT = "https://resource-01.openai.azure.com"


def test_documents_are_seeded_batches_of_equal_chunks() -> None:
    docs = documents(5, batch=4, chunk_chars=50, seed=3)
    assert docs == documents(5, batch=4, chunk_chars=50, seed=3)
    assert docs != documents(5, batch=4, chunk_chars=50, seed=4)
    chunks = [chunk for doc in docs for chunk in doc.split("\n")]
    assert len(chunks) == 20
    assert {len(chunk) for chunk in chunks} == {50}


@pytest.mark.parametrize("setup", [full_embeddings_setup(), quick_embeddings_setup()])
def test_the_embedding_workers_ask_twice_the_embedding_quota(setup: EmbeddingsSetup) -> None:
    assert setup.demand == pytest.approx(2.0)


def _throttle(balancer: Balancer, backend: Backend) -> None:
    balancer.record(backend, Verdict(Outcome.THROTTLED, "429", 429, retry_after=1.0))


def test_the_check_catches_a_429_charged_to_the_other_pool() -> None:
    chat = Backend("01", ENDPOINT, "gpt-35-turbo", api_key="k" * 32)
    embedding = Backend(
        "01-embeddings", ENDPOINT, "text-embedding-3-small", api_key="k" * 32, pool="embeddings"
    )
    balancer = Balancer([chat, embedding], clock=FakeClock(), store=None)
    _throttle(balancer, chat)
    _throttle(balancer, chat)
    sent = {(ENDPOINT, "gpt-35-turbo"): 1, (ENDPOINT, "text-embedding-3-small"): 1}

    # the chat deployment sent one 429, the embedding deployment one: charged as sent, clean
    _throttle(balancer, embedding)
    sent[(ENDPOINT, "gpt-35-turbo")] = 2
    right = attribute(balancer.snapshot(), lambda e, d: sent[(e, d)])
    assert [(a.backend, a.pool, a.recorded, a.sent) for a in right] == [
        ("01", "chat", 2, 2),
        ("01-embeddings", "embeddings", 1, 1),
    ]
    assert [(a.crossed, a.unrecorded) for a in right] == [(0, 0), (0, 0)]

    # a third chat 429 charged to the embedding backend: it crossed pools, and chat lost one
    _throttle(balancer, embedding)
    sent[(ENDPOINT, "gpt-35-turbo")] = 3
    wrong = {a.pool: a for a in attribute(balancer.snapshot(), lambda e, d: sent[(e, d)])}
    assert (wrong["embeddings"].crossed, wrong["embeddings"].unrecorded) == (1, 0)
    assert (wrong["chat"].crossed, wrong["chat"].unrecorded) == (0, 1)


@pytest.mark.integration
@pytest.mark.timeout(150)
def test_quick_embeddings_beside_chat_on_every_dialect(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "--workload", "embeddings", "--quick", "--out", str(tmp_path)]) == 0

    runs = json.loads((tmp_path / "results.json").read_text())
    assert [(r["workload"], r["chat"]["scenario"]) for r in runs] == [
        ("embeddings", d.name) for d in DIALECTS
    ]
    setup = quick_embeddings_setup()
    throttled = 0
    for entry in runs:
        embedded, chat = entry["embeddings"]["run"], entry["chat"]
        assert embedded["requests"] == setup.requests
        for run in (embedded, chat):
            assert run["answers"] > 0, run
            assert run["errors"] == 0, run
            assert run["answers"] == run["requests"], run
            assert run["attempts"]["served"] >= run["answers"], run
        # one balancer held both pools: every backend of each, charged exactly with its 429s
        attribution = entry["attribution"]
        assert sorted((a["backend"], a["pool"]) for a in attribution) == sorted(
            [(f"0{i}", "chat") for i in (1, 2, 3)]
            + [(f"0{i}-embeddings", "embeddings") for i in (1, 2, 3)]
        )
        assert entry["crossed"] == {"chat": 0, "embeddings": 0}, attribution
        assert entry["unrecorded"] == 0, attribution
        for pool, run in (("embeddings", embedded), ("chat", chat)):
            charged = sum(a["recorded"] for a in attribution if a["pool"] == pool)
            assert charged == run["attempts"]["throttled"], (pool, attribution)
        assert entry["tokens"] > 0
        throttled += embedded["attempts"]["throttled"]
    assert throttled > 0  # the embedding pool was throttled: the check had 429s to misplace

    text = (tmp_path / "results.md").read_text()
    assert "## Targets (embeddings beside chat)" in text
    assert "## Closed loop" not in text  # the other workloads did not run
    assert text in capsys.readouterr().out
