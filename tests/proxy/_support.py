"""Helpers for the proxy tests: a running proxy in front of a running emulator.

The proxy is the real `Proxy` app served by uvicorn on a loopback port, with
an emulator behind it; clients are the real openai SDK, LangChain's plain
`AzureChatOpenAI`, httpx or a raw socket, as the case needs. The clock is the
real one: nothing here waits on a backend's recovery (a test that needs a
request refused at once gives the balancer no wait budget).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import openai

from aoai_fallbacks.balancer import Balancer
from aoai_fallbacks.emulator import DeploymentConfig, Emulator, run_emulator
from aoai_fallbacks.emulator._server import HOST, ServerThread, bind
from aoai_fallbacks.proxy import Proxy, ProxySettings
from transport._support import backends_of

CHAT = "gpt-4o"
EMBEDDING = "text-embedding-3-small"
KEY = "proxy-key-0123456789abcdef"
"""The key clients of the test proxy authenticate with."""
API_VERSION = "2024-10-21"
MESSAGES: list[Any] = [{"role": "user", "content": "Tell me a joke about quotas."}]


@dataclass
class Running:
    """A proxy in front of an emulator: where to reach it, and both ends to inspect."""

    url: str
    proxy: Proxy
    emulator: Emulator

    @property
    def balancer(self) -> Balancer:
        return self.proxy.balancer

    def client(self, **options: Any) -> openai.AzureOpenAI:
        """An ordinary Azure OpenAI client of the proxy, as an app in any language would hold."""
        options.setdefault("api_key", KEY)
        options.setdefault("max_retries", 0)
        return openai.AzureOpenAI(azure_endpoint=self.url, api_version=API_VERSION, **options)

    def served(self, resource: int, deployment: str = CHAT) -> int:
        """Requests resource `resource` (0-based) served for `deployment`."""
        return self.emulator.resources[resource].stats(deployment).served

    def received(self, deployment: str = CHAT) -> int:
        """Requests every resource received for `deployment`, answered or not."""
        return self.emulator.stats(deployment).requests


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve the ASGI `app` on a free loopback port while the block runs; yield its URL."""
    sock = bind(0)
    server = ServerThread([app], [sock])
    server.start()
    try:
        yield f"http://{HOST}:{sock.getsockname()[1]}"
    finally:
        server.stop()


@contextmanager
def running_proxy(
    *,
    resources: int = 2,
    deployments: Sequence[DeploymentConfig] = (
        DeploymentConfig(CHAT, tpm=1_000_000),
        DeploymentConfig(EMBEDDING, tpm=1_000_000, kind="embeddings"),
    ),
    settings: ProxySettings | None = None,
    **balancer_options: Any,
) -> Iterator[Running]:
    """An emulator of `resources` resources, and a proxy over all of them in front of it."""
    with run_emulator(resources=resources, deployments=deployments, seed=7) as emulator:
        balancer = Balancer(backends_of(emulator), store=None, **balancer_options)
        proxy = Proxy(balancer, ProxySettings(keys=(KEY,)) if settings is None else settings)
        with serving(proxy) as url:
            yield Running(url, proxy, emulator)
