"""Retrieval-augmented answers with both halves balanced: embeddings and chat.

A RAG app is throttled on embeddings as often as on chat: ingesting documents
spends the embedding deployments' quota in bursts, and every question embeds
once more before it asks the chat model. Here `balanced_embeddings()` spreads
the embedding calls over every resource's embedding deployment and
`balanced_chat_model()` the questions over the chat deployments, on one
shared balancer: each deployment keeps its own cooldowns (they are separate
quotas on Azure), and a resource that is down is known to both.

    python examples/rag.py

With `AOAI_*` in the environment or a `.env` (``AOAI_EMBEDDING_DEPLOYMENT``
names the embedding deployment), it talks to your deployments; with nothing
configured, it starts the built-in emulator: two resources whose embedding
deployments take five requests per 10 s each, so the eight embedding calls
(six documents, two questions) move from 01 to 02 when 01's window is full.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.vectorstores import InMemoryVectorStore

from aoai_fallbacks import balanced_chat_model, balanced_embeddings
from aoai_fallbacks.config import is_configured

DOCUMENTS = [
    "Each Azure OpenAI deployment has its own tokens-per-minute quota.",
    "A 429 answer carries retry-after-ms: the milliseconds until the quota frees.",
    "Embedding deployments and chat deployments are charged on separate quotas.",
    "Requests per minute are about six per thousand tokens per minute.",
    "A deployment's quota may be shared with other apps of the subscription.",
    "Spreading calls over several resources multiplies the capacity.",
]
QUESTIONS = ["Why did my request get a 429?", "Do embeddings use the chat quota?"]


def ingest(embeddings: Embeddings) -> InMemoryVectorStore:
    """`DOCUMENTS` in a vector store, embedded one call per document, as ingestion streams."""
    store = InMemoryVectorStore(embeddings)
    for text in DOCUMENTS:
        store.add_documents([Document(page_content=text)])
    return store


def answer(store: InMemoryVectorStore, model: BaseChatModel, question: str) -> str:
    """The model's answer to `question`, given the two closest documents."""
    found = store.similarity_search(question, k=2)
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "Answer from this context only:\n{context}"),
            ("human", "{question}"),
        ]
    )
    context = "\n".join(f"- {doc.page_content}" for doc in found)
    reply = (prompt | model).invoke({"context": context, "question": question})
    return str(reply.content)


@contextmanager
def backends_or_emulator() -> Iterator[None]:
    """Leave a real configuration alone; with none at all, serve from the built-in emulator."""
    if is_configured():
        yield
        return
    from aoai_fallbacks.emulator import DeploymentConfig, run_emulator

    chat = DeploymentConfig("gpt-4o-mini", tpm=100_000)
    # 30 RPM: five requests per 10 s window on each resource.
    embedding = DeploymentConfig("text-embedding-3-small", kind="embeddings", rpm=30)
    with run_emulator(resources=2, deployments=[chat, embedding]) as emulator:
        os.environ.update(emulator.env())
        os.environ["AOAI_PRIORITY_02"] = "2"
        print("no AOAI_* configuration found: answering from the built-in emulator")
        yield


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("aoai_fallbacks").setLevel(logging.INFO)
    with backends_or_emulator():
        # langchain-openai counts tokens with tiktoken, which downloads its tables on
        # first use; these short texts cannot overflow, so the check is left out.
        embeddings = balanced_embeddings(check_embedding_ctx_length=False)
        model = balanced_chat_model(temperature=0, max_tokens=80)  # the same balancer
        store = ingest(embeddings)
        for question in QUESTIONS:
            print(f"Q: {question}\nA: {answer(store, model, question)}\n")
        for status in embeddings.balancer.snapshot():
            print(f"backend {status.name}: {status.served} answered, {status.throttled} 429s")


if __name__ == "__main__":
    main()
