"""The seed's joke chain, on the smart balancer instead of `with_fallbacks()`.

The seed built one `AzureChatOpenAI` per deployment and chained them with
`with_fallbacks()`, so every call started at deployment 01 and paid a wasted
round trip (or seconds of retry sleep) once 01 was throttled. Here one
`balanced_chat_model()` is the whole model: a throttled deployment is skipped
until its Retry-After has passed, and the request goes to one with quota at
once. The `aoai_fallbacks` logger tells the story at INFO.

    python examples/smart_joke_chain.py

With `AOAI_*` in the environment or a `.env`, it talks to your deployments;
with nothing configured, it starts the built-in emulator (three resources
that each take three requests per 10 s) so you can watch it switch.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable

from aoai_fallbacks import balanced_chat_model
from aoai_fallbacks.config import is_configured

BACKEND_HEADER = "x-aoai-fallbacks-backend"


def build_chain(model: BaseChatModel | None = None) -> Runnable[dict[str, str], BaseMessage]:
    """The seed's prompt piped into the balanced model (None: one from the environment)."""
    llm = model or balanced_chat_model(
        temperature=0.7, max_tokens=100, include_response_headers=True
    )
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are an AI assistant that tells jokes."), ("human", "{text}")]
    )
    return prompt | llm


def tell_jokes(chain: Runnable[dict[str, str], BaseMessage], count: int = 9) -> list[str]:
    """Ask for `count` dad jokes, print each with the backend that told it, and return them."""
    jokes = []
    for _ in range(count):
        result = chain.invoke({"text": "Tell me a dad joke"})
        backend = result.response_metadata.get("headers", {}).get(BACKEND_HEADER, "?")
        print(f"[backend {backend}] {result.content}")
        jokes.append(str(result.content))
    return jokes


@contextmanager
def backends_or_emulator() -> Iterator[None]:
    """Leave a real configuration alone; with none at all, serve from the built-in emulator."""
    if is_configured():
        yield
        return
    from aoai_fallbacks.emulator import DeploymentConfig, run_emulator

    # 18 RPM: three requests per 10 s window on each resource, so nine jokes
    # walk through 01, 02 and 03 without waiting.
    deployment = DeploymentConfig("gpt-35-turbo", tpm=10_000, rpm=18)
    with run_emulator(resources=3, deployments=[deployment]) as emulator:
        os.environ.update(emulator.env())
        os.environ.update({"AOAI_PRIORITY_02": "2", "AOAI_PRIORITY_03": "3"})
        print("no AOAI_* configuration found: telling jokes from the built-in emulator")
        yield


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("aoai_fallbacks").setLevel(logging.INFO)
    with backends_or_emulator():
        tell_jokes(build_chain())


if __name__ == "__main__":
    main()
