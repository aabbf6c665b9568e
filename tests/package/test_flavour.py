"""The balancing transports belong to the HTTP library the installed openai sends through.

openai 3 sends through `httpx2`, openai 2 through `httpx`; the transports are
built on the same one. Handing one to a client of the other library is a type
error for a type checker and a `TypeError` naming both at run time, not a
bare ``AssertionError`` from deep inside the client.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aoai_fallbacks import AsyncBalancingTransport, Backend, Balancer, BalancingTransport
from aoai_fallbacks._http import USES_HTTPX2, httpx

OURS = httpx.__name__
OTHER = "httpx" if USES_HTTPX2 else "httpx2"
ROOT = Path(__file__).resolve().parents[2]
URL = "https://aoai-fallbacks.invalid/openai/deployments/gpt/chat/completions"


@pytest.fixture
def balancer() -> Balancer:
    return Balancer([Backend("01", "http://127.0.0.1:9", "gpt-35-turbo", api_key="k" * 32)])


def test_a_client_of_the_other_library_is_told_which_to_use(balancer: Balancer) -> None:
    other = pytest.importorskip(OTHER)
    with (
        other.Client(transport=BalancingTransport(balancer)) as client,
        pytest.raises(TypeError) as refused,
    ):
        client.post(URL, json={})
    message = str(refused.value)
    assert f"BalancingTransport is a transport of {OURS}" in message
    assert f"request from {OTHER}" in message
    assert "openai.DefaultHttpxClient" in message


def test_an_async_client_of_the_other_library_is_told_too(balancer: Balancer) -> None:
    other = pytest.importorskip(OTHER)

    async def post() -> None:
        async with other.AsyncClient(transport=AsyncBalancingTransport(balancer)) as client:
            await client.post(URL, json={})

    with pytest.raises(TypeError, match=f"AsyncBalancingTransport is a transport of {OURS}"):
        asyncio.run(post())


def test_a_type_checker_sees_the_sdks_library_and_every_public_name(tmp_path: Path) -> None:
    """One mypy run over what a user writes: the wrong library's client is an error, the
    SDK's clients take the transports as they are, and the lazily imported faces keep
    their types."""
    pytest.importorskip(OTHER)
    snippet = tmp_path / "user.py"
    snippet.write_text(
        textwrap.dedent(
            f"""\
            import openai
            import {OTHER} as other

            from aoai_fallbacks import (
                AsyncBalancingTransport, Balancer, BalancingTransport, balanced_chat_model,
                fallback_chain,
            )


            def build(balancer: Balancer) -> None:
                openai.DefaultHttpxClient(transport=BalancingTransport(balancer))
                openai.DefaultAsyncHttpxClient(transport=AsyncBalancingTransport(balancer))
                other.Client(transport=BalancingTransport(balancer))
                other.AsyncClient(transport=AsyncBalancingTransport(balancer))


            reveal_type(balanced_chat_model())
            reveal_type(fallback_chain)
            """
        )
    )
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",  # the one scripts/test fills just before: seconds, not a minute
            str(ROOT / ".mypy_cache"),
            "--no-error-summary",
            str(snippet),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=110,
    )
    said = {}
    for line in checked.stdout.splitlines():
        _, number, text = line.split(":", 2)
        said[int(number)] = text.strip()
    assert sorted(said) == [13, 14, 17, 18], checked.stdout
    assert said[13].startswith('error: Argument "transport" to "Client" has incompatible type')
    assert said[14].startswith('error: Argument "transport" to "AsyncClient" has incompatible')
    assert said[17] == 'note: Revealed type is "aoai_fallbacks.langchain.BalancedAzureChatOpenAI"'
    assert said[18].startswith('note: Revealed type is "def (backends: typing.Sequence[aoai_fa')
    assert "-> langchain_core.runnables.base.Runnable[" in said[18]
