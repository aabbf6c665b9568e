"""Each approach leaves nothing open behind it: the demo and the bench run one loop per phase."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aoai_fallbacks._cli.bench.approaches import APPROACHES, Options, _models
from aoai_fallbacks.config import load_backends
from aoai_fallbacks.emulator import DeploymentConfig, run_emulator

pytestmark = pytest.mark.integration


def _async_clients(asker: Any) -> list[Any]:
    """The openai async clients an asker holds: its own, or its chat models'."""
    if hasattr(asker, "_client"):
        return [asker._client]
    return [model.root_async_client for model in _models(asker._runnable)]


@pytest.mark.parametrize("name", ["direct", "recipe", "balancer"])
def test_aclose_closes_every_client_on_the_loop_that_used_it(name: str) -> None:
    # Left open, a client is closed by the garbage collector later, from the
    # next phase's loop, which prints "Event loop is closed" tracebacks.
    approach = next(a for a in APPROACHES if a.name == name)
    deployments = [DeploymentConfig("gpt-35-turbo"), DeploymentConfig("gpt-4-32k")]
    with run_emulator(2, deployments) as emu:
        env = emu.env(deployment="gpt-35-turbo", large_deployment="gpt-4-32k")
        backends = load_backends(env, dotenv=False)
        asker = approach.build(backends, Options(max_tokens=10, attempt_timeout=10.0))
        clients = _async_clients(asker)

        async def phase() -> None:
            await asker.ask("Tell me a joke.")
            await asker.aclose()

        asyncio.run(phase())
    assert len(clients) == (1 if name != "recipe" else 4)  # the recipe: 2 base + 2 larger
    assert all(client.is_closed() for client in clients)
