"""The recipe over real loopback HTTP: the emulator, the openai SDK and `AzureChatOpenAI`.

Every test runs on one `FakeClock`, shared by the emulator's quota windows and
the openai SDK's retry sleeps, so a Retry-After of ten seconds passes in no
time and can be asserted exactly.
"""

from __future__ import annotations

import types

import openai
import openai._base_client
import pytest

from aoai_fallbacks.emulator import Resource
from aoai_fallbacks.testing import FakeClock


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """A fake clock the SDK's retry sleeps run on (mocking only the clock)."""
    fake = FakeClock()
    monkeypatch.setattr(
        openai._base_client, "time", types.SimpleNamespace(sleep=fake.sleep, time=fake.time)
    )
    return fake


def drain(resource: Resource, deployment: str) -> None:
    """Use up `deployment`'s quota on `resource` until it answers 429, straight through the SDK."""
    client = openai.AzureOpenAI(
        azure_endpoint=resource.endpoint,
        api_key=resource.key,
        api_version="2024-10-21",
        max_retries=0,
    )
    for _ in range(100):
        try:
            client.chat.completions.create(
                model=deployment, messages=[{"role": "user", "content": "hi"}], max_tokens=5
            )
        except openai.RateLimitError:
            return
    raise AssertionError(f"{deployment} on {resource.name} never throttled")
