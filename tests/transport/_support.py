"""Helpers for the transport tests: backends from an emulator, one call, who answered.

Every test runs the real openai SDK (or LangChain) over loopback HTTP against
`aoai_fallbacks.emulator`, with one `FakeClock` shared by the emulator's
quotas and the balancer, so cooldowns and waits are walked through without
sleeping. Only hang faults use real (short) timeouts.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import openai

from aoai_fallbacks import NoBackendAvailableError
from aoai_fallbacks.config import Backend, load_backends
from aoai_fallbacks.emulator import Emulator
from aoai_fallbacks.testing import FakeClock
from aoai_fallbacks.transport import BACKEND_HEADER

PROMPT = [{"role": "user", "content": "Tell me a joke about quotas."}]


def backends_of(emulator: Emulator, **env: str) -> list[Backend]:
    """The backends `load_backends` reads from the emulator's variables plus `env`.

    ``deployment=``/``large_deployment=``/``embedding_deployment=`` choose the
    deployments; other keywords are extra variables (``AOAI_PRIORITY_02="2"``).
    """
    variables = emulator.env(
        deployment=env.pop("deployment", None),
        large_deployment=env.pop("large_deployment", None),
        embedding_deployment=env.pop("embedding_deployment", None),
    )
    variables.update(env)
    return load_backends(variables, dotenv=False)


def ask(client: openai.AzureOpenAI, content: str | None = None, **options: Any) -> str:
    """Send one chat completion; return the name of the backend that answered."""
    messages = PROMPT if content is None else [{"role": "user", "content": content}]
    options.setdefault("max_tokens", 20)
    raw = client.chat.completions.with_raw_response.create(
        model="ignored-the-backend-decides", messages=messages, **options
    )
    completion = raw.parse()
    assert completion.choices, completion
    return raw.headers[BACKEND_HEADER]


def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def answer_or_busy(client: openai.AsyncAzureOpenAI) -> str:
    """'ok' for an answer, 'busy' for `NoBackendAvailableError`; anything else propagates."""
    try:
        await client.chat.completions.create(model="ignored", messages=PROMPT, max_tokens=20)
    except NoBackendAvailableError:
        return "busy"
    return "ok"


def crowd(client: openai.AsyncAzureOpenAI, size: int, clock: FakeClock) -> list[str]:
    """Send `size` requests at once; each one's outcome, as `answer_or_busy` names it.

    Each request holds `clock` still from its start to its end (but while it
    sleeps on it), so the whole crowd has arrived before anyone's wait ends,
    however slowly this machine gets each one to the transport.
    """

    async def one() -> str:
        with clock.busy():
            return await answer_or_busy(client)

    async def gather() -> list[str]:
        return await asyncio.gather(*(one() for _ in range(size)))

    return asyncio.run(gather())
