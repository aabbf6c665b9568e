"""A faithful local Azure OpenAI: chat completions, embeddings, the Responses API, quotas,
errors and faults on loopback.

Tests, demos and benchmarks run against it over real HTTP instead of mocking the
SDK, because what this library must get right is exactly how Azure answers:
429 with `retry-after`, quota headers, 5xx, wrong keys, missing deployments,
prompts too long, streams that break. Needs the `server` extra.

    with run_emulator(resources=3, deployments=[DeploymentConfig("gpt-35-turbo", tpm=1000)],
                      clock=FakeClock()) as emu:
        client = openai.AzureOpenAI(azure_endpoint=emu.resources[0].endpoint,
                                    api_key=emu.resources[0].key, api_version="2024-06-01",
                                    max_retries=0)

A prompt containing `CONTENT_FILTER_TRIGGER` is refused with Azure's 400
`content_filter` answer. `DeploymentConfig` also chooses the deployment's
dialect (which retry-after, reset and remaining headers its 429s carry, a 1 s
or 10 s request window) and a neighbour app sharing its quota.

`DeploymentConfig("text-embedding-3-small", kind="embeddings")` serves embeddings
(float or base64, `dimensions`) on the same quota; chat deployments also serve the
Responses API (`client.responses.create/stream/retrieve/delete`), whose stored
responses live only on the resource that created them. Each kind refuses the
other's operations with Azure's 400 `OperationNotSupported`.
"""

from __future__ import annotations

from aoai_fallbacks._wire import CONTENT_FILTER_TRIGGER
from aoai_fallbacks.emulator._deployment import DeploymentConfig, DeploymentStats
from aoai_fallbacks.emulator._emulator import Emulator, run_emulator
from aoai_fallbacks.emulator._faults import Faults
from aoai_fallbacks.emulator._resource import Resource

__all__ = [
    "CONTENT_FILTER_TRIGGER",
    "DeploymentConfig",
    "DeploymentStats",
    "Emulator",
    "Faults",
    "Resource",
    "run_emulator",
]
