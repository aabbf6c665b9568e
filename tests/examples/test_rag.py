"""`examples/rag.py`: runnable as-is on the emulator, and every call answered under throttling."""

from __future__ import annotations

from pathlib import Path

import pytest

from aoai_fallbacks import Balancer, balanced_chat_model, balanced_embeddings, load_backends
from aoai_fallbacks.emulator import DeploymentConfig, run_emulator
from aoai_fallbacks.testing import FakeClock

from ._support import EXAMPLES, load_example, run_unconfigured

pytestmark = pytest.mark.integration

EXAMPLE = EXAMPLES / "rag.py"


def test_runs_as_is_on_the_built_in_emulator(tmp_path: Path) -> None:
    done = run_unconfigured(EXAMPLE, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\nA: ") == 2
    # Eight embedding calls, five a window per resource: 01 fills, 02 takes the rest,
    # passed over on its remaining-requests header before it ever says 429.
    assert "backend 01-embeddings: 5 answered, 0 429s" in done.stdout
    assert "backend 02-embeddings: 3 answered, 0 429s" in done.stdout
    assert "backend 01: 2 answered" in done.stdout


def test_every_document_and_question_is_answered_when_every_deployment_is_throttled() -> None:
    example = load_example(EXAMPLE)
    clock = FakeClock()
    chat = DeploymentConfig("gpt-4o-mini", tpm=10_000, rpm=6)
    embedding = DeploymentConfig("text-embedding-3-small", kind="embeddings", rpm=6)
    with run_emulator(resources=2, deployments=[chat, embedding], clock=clock) as emu:
        balancer = Balancer(load_backends(emu.env(), dotenv=False), clock=clock)
        embeddings = balanced_embeddings(balancer=balancer, check_embedding_ctx_length=False)
        model = balanced_chat_model(balancer=balancer, max_tokens=40)
        store = example.ingest(embeddings)
        answers = [example.answer(store, model, q) for q in example.QUESTIONS]
        embedded, asked = emu.stats(embedding.name), emu.stats(chat.name)
    assert all(answers)
    assert embedded.served == len(example.DOCUMENTS) + len(example.QUESTIONS)
    assert asked.served == len(example.QUESTIONS)
    assert len(clock.slept) >= 2  # one request per 10 s window: it waited, never failed
