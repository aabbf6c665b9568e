"""Embeddings beside chat: an ingestion job at twice the embedding quota and a chat app at a
moderate load, through one `Balancer`.

Each of the 3 resources serves a chat deployment and an embedding deployment,
each with its own quota. One `AsyncAzureOpenAI` from `balanced_openai_client`,
over one `Balancer` holding both pools, carries both loads at once:

* **Embeddings** (what RAG ingestion does): a closed loop (`closed.drive_closed`)
  of `workers` workers, each sending its next document as soon as its last
  was embedded, a document being `batch` chunks embedded in one request. The
  workers ask twice what the embedding quotas admit (workers / service time =
  2x the capacity). Closed, because an open loop at twice the quota must turn
  half its requests away whatever the client does: the loop is what a batch
  job is, and its capacity used and latencies are judged as the closed loop's
  (`closed.closed_metrics`).
* **Chat**: seeded Poisson arrivals at `chat_load` of the chat quotas (less a
  neighbour's share) for as long as the ideal embedding run lasts, latency
  counted from the schedule (`engine.drive`): the users of the same app.

Time scaling, as in `scenarios`: the emulator counts tokens over a sliding
minute, which a run of seconds never meets, so both pools are bound by their
request windows (the dialect's 10 s or 1 s) and every chunk has the same
length, so every request costs the same tokens: the share of the embedding
capacity used in requests is the share used in tokens.

Cross-pool check. Each deployment must keep its own cooldowns: a chat 429 must
never cool an embedding deployment, nor the reverse. The balancer counts the
429s it recorded against each backend (`BackendStatus.throttled`, each one a
cooldown started); the emulator counts the 429s each deployment of each
resource really sent. `attribute` sets them side by side per backend: a
backend holding more 429s than its own deployment sent was cooled by another
one's (`crossed`), for chat backends and for embedding backends apart; one
holding fewer lost a verdict (`unrecorded`). Both are 0 when every 429 went
to the backend that earned it.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from aoai_fallbacks._cli.bench.closed import ClosedSetup, closed_metrics, drive_closed
from aoai_fallbacks._cli.bench.engine import drive, run_closing
from aoai_fallbacks._cli.bench.metrics import ClosedMetrics, RequestRecord, RunMetrics, summarize
from aoai_fallbacks._cli.bench.scenarios import DEPLOYMENT
from aoai_fallbacks._cli.bench.workload import TOPICS, open_loop

if TYPE_CHECKING:
    import openai

    from aoai_fallbacks._cli.bench.dialects import Dialect
    from aoai_fallbacks.balancer import BackendStatus
    from aoai_fallbacks.emulator import DeploymentConfig

__all__ = [
    "EMBEDDING_DEPLOYMENT",
    "Attribution",
    "EmbeddingsRun",
    "EmbeddingsSetup",
    "attribute",
    "documents",
    "full_embeddings_setup",
    "quick_embeddings_setup",
    "run_embeddings",
]

EMBEDDING_DEPLOYMENT = "text-embedding-3-small"
"""The embedding deployment every emulated resource serves beside its chat one."""

APPROACH = "balancer"
"""The only approach this workload runs: the others have no embedding pool to compare."""


@dataclass(frozen=True)
class EmbeddingsSetup(ClosedSetup):
    """The closed loop's fields describe the embedding loop (`rpm`, `latency`, `workers`,
    `requests`: documents); the chat load has its own."""

    rpm: int = 120
    latency: float = 0.5
    workers: int = 6
    """6 workers / 0.5 s = 12 requests/s asked of 3 x 2 per s: twice the embedding quota."""
    requests: int = 180
    batch: int = 8
    """Chunks per request (one document)."""
    chunk_chars: int = 400
    """Characters per chunk: every chunk, so every request, costs the same tokens."""
    chat_rpm: int = 60
    chat_load: float = 0.7
    """Chat arrivals per second, as a share of what the chat quotas leave to the app."""
    chat_latency: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.chat_rpm < 60 or self.chat_rpm % 60:
            raise ValueError(f"chat_rpm must be a positive multiple of 60, not {self.chat_rpm}")
        if self.batch < 1 or self.chunk_chars < 1:
            raise ValueError("a request embeds at least one chunk of at least one character")
        if not 0 < self.chat_load <= 1:
            raise ValueError(f"chat_load is a share from 0 (excluded) to 1, not {self.chat_load}")

    @property
    def demand(self) -> float:
        """What the embedding workers ask, as a share of the embedding quotas."""
        return self.workers / self.latency / (self.resources * self.rpm / 60.0)

    def embedding_deployment(self, dialect: Dialect) -> DeploymentConfig:
        config = dialect.deployment(
            EMBEDDING_DEPLOYMENT, rpm=self.rpm, tpm=self.tpm, request_window=self.request_window
        )
        return replace(config, kind="embeddings")

    def chat_deployment(self, dialect: Dialect) -> DeploymentConfig:
        return dialect.deployment(
            DEPLOYMENT, rpm=self.chat_rpm, tpm=self.tpm, request_window=self.request_window
        )

    def chat_capacity(self, dialect: Dialect) -> float:
        """Chat requests per second the quotas leave to the app: all, less a neighbour's share."""
        return self.resources * self.chat_rpm / 60.0 * (1.0 - dialect.neighbour)

    def chat_duration(self, dialect: Dialect) -> float:
        """Seconds of chat arrivals: as long as the ideal embedding run."""
        return self.requests / self.capacity(dialect)


def full_embeddings_setup(requests: int | None = None) -> EmbeddingsSetup:
    """The published run: 180 documents (30 s of embedding quota) per dialect."""
    return EmbeddingsSetup() if requests is None else EmbeddingsSetup(requests=requests)


def quick_embeddings_setup(requests: int | None = None) -> EmbeddingsSetup:
    """CI's smoke test: 1 s windows, 0.2 s answers, 24 documents per dialect (4 s of quota).

    Its test asserts no client-visible error, so the per-attempt timeout and the
    hard bound leave room for a busy machine (a CPU-starved emulator answering
    late is not the balancer's error); they cost nothing when it is not busy.
    """
    return EmbeddingsSetup(
        latency=0.25,
        workers=3,
        requests=24 if requests is None else requests,
        chat_latency=0.2,
        attempt_timeout=5.0,
        request_window=1.0,
        grace=20.0,
    )


@dataclass(frozen=True, slots=True)
class Attribution:
    """The 429s one backend was cooled for, beside those its own deployment sent."""

    backend: str
    pool: str
    recorded: int
    """429 verdicts the balancer recorded against it: each one a cooldown started."""
    sent: int
    """429s its deployment on its resource answered to the app (the emulator's count)."""

    @property
    def crossed(self) -> int:
        """Cooldowns it got for 429s its own deployment never sent."""
        return max(self.recorded - self.sent, 0)

    @property
    def unrecorded(self) -> int:
        """429s its deployment sent that the balancer did not hold against it."""
        return max(self.sent - self.recorded, 0)


def attribute(
    statuses: Sequence[BackendStatus], sent: Callable[[str, str], int]
) -> tuple[Attribution, ...]:
    """Each backend's 429s as the balancer recorded them (`statuses`, its `snapshot()`),
    beside `sent(endpoint, deployment)`, those that deployment really sent."""
    return tuple(
        Attribution(s.name, s.pool, s.throttled, sent(s.endpoint, s.deployment)) for s in statuses
    )


@dataclass(frozen=True)
class EmbeddingsRun:
    """Both pools through one dialect: the embedding loop, the chat load, the tokens
    embedded and each backend's 429s, as the balancer recorded them and as they were sent."""

    embeddings: ClosedMetrics
    chat: RunMetrics
    tokens: int
    """Tokens of every embedding answered, as the answers' usage says."""
    attribution: tuple[Attribution, ...]

    def crossed(self, pool: str) -> int:
        """Cooldowns of `pool`'s backends started by 429s their deployments never sent."""
        return sum(a.crossed for a in self.attribution if a.pool == pool)

    @property
    def unrecorded(self) -> int:
        return sum(a.unrecorded for a in self.attribution)


class _Chat:
    """A chat completion per prompt. Both askers share one client: closing either closes it."""

    def __init__(self, client: openai.AsyncAzureOpenAI, max_tokens: int) -> None:
        self._client = client
        self._max_tokens = max_tokens

    async def ask(self, prompt: str) -> str | None:
        await self._client.chat.completions.create(
            model="any",
            messages=[{"role": "user", "content": prompt}],
            max_tokens=self._max_tokens,
        )
        return None

    async def aclose(self) -> None:
        await self._client.close()


class _Embed(_Chat):
    """One embeddings request per document: its lines are its chunks, embedded as one batch.
    Counts the tokens the answers were charged."""

    def __init__(self, client: openai.AsyncAzureOpenAI, max_tokens: int) -> None:
        super().__init__(client, max_tokens)
        self.tokens = 0

    async def ask(self, prompt: str) -> str | None:
        answer = await self._client.embeddings.create(model="any", input=prompt.split("\n"))
        self.tokens += answer.usage.total_tokens
        return None


def documents(count: int, *, batch: int, chunk_chars: int, seed: int = 0) -> list[str]:
    """`count` documents of `batch` chunks (one a line), each exactly `chunk_chars` long."""
    rng = random.Random(seed)
    words = [topic.replace(" ", "-") for topic in TOPICS]

    def chunk() -> str:
        text = ""
        while len(text) < chunk_chars:
            text += rng.choice(words) + " "
        return text[:chunk_chars]

    return ["\n".join(chunk() for _ in range(batch)) for _ in range(count)]


def run_embeddings(setup: EmbeddingsSetup, dialect: Dialect) -> EmbeddingsRun:
    """Run both loads through one balancer on a fresh emulator speaking `dialect`.

    Blocks until every document has ended and the chat arrivals are done, or
    the setup's hard bound.
    """
    from aoai_fallbacks._client import balanced_openai_client
    from aoai_fallbacks.balancer import Balancer
    from aoai_fallbacks.config import load_backends
    from aoai_fallbacks.emulator import run_emulator

    chat, embedding = setup.chat_deployment(dialect), setup.embedding_deployment(dialect)
    with run_emulator(setup.resources, (chat, embedding), seed=setup.seed) as emulator:
        for resource in emulator.resources:
            resource.set_faults(chat.name, latency=setup.chat_latency)
            resource.set_faults(embedding.name, latency=setup.latency)
        env = emulator.env(deployment=chat.name, embedding_deployment=embedding.name)
        balancer = Balancer(
            load_backends(env, dotenv=False), attempt_timeout=setup.attempt_timeout, store=None
        )
        client = balanced_openai_client(balancer=balancer, async_=True)
        embed, talk = _Embed(client, setup.max_tokens), _Chat(client, setup.max_tokens)
        duration = setup.chat_duration(dialect)
        rate = setup.chat_capacity(dialect) * setup.chat_load
        arrivals = open_loop(rate, max(1, round(rate * duration)), seed=setup.seed)
        texts = documents(
            setup.requests, batch=setup.batch, chunk_chars=setup.chunk_chars, seed=setup.seed
        )
        embedded: list[RequestRecord] = []
        chatted: list[RequestRecord] = []
        deadline = setup.deadline(dialect)

        async def both() -> None:
            await asyncio.gather(
                drive_closed(
                    embed, texts, workers=setup.workers, deadline=deadline, records=embedded
                ),
                drive(talk, arrivals, deadline=deadline, records=chatted),
            )

        run_closing(embed, both())
        names = (chat.name, embedding.name)
        stats = {(r.endpoint, n): r.stats(n) for r in emulator.resources for n in names}
        attribution = attribute(balancer.snapshot(), lambda e, d: stats[(e, d)].throttled)
        chat_attempts, embedding_attempts = (
            emulator.stats(chat.name),
            emulator.stats(embedding.name),
        )
    window = setup.window(dialect)
    return EmbeddingsRun(
        embeddings=closed_metrics(setup, dialect, APPROACH, embedded, embedding_attempts),
        chat=summarize(
            approach=APPROACH,
            scenario=dialect.name,
            records=sorted(chatted, key=lambda r: r.index),
            attempts=chat_attempts,
            duration=duration,
            available=setup.chat_capacity(dialect) * window * math.ceil(duration / window),
            backends=setup.resources,
            window=window,
        ),
        tokens=embed.tokens,
        attribution=attribution,
    )
