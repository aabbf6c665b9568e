"""The contenders, behind one small async interface so the engine can drive them alike.

Each approach is what a user would otherwise pick, configured the way its own
documentation shows, with one exception applied to all alike: the same
per-attempt timeout, since a hung backend must time out for anyone.

* ``direct``: one deployment through the `openai` SDK and its default retries.
* ``recipe``: the seed recipe, `fallback_chain` (LangChain ``with_fallbacks``).
* ``balancer``: `balanced_chat_model`, the LangChain face (parity with the recipe).
* ``priority-lb``: the `openai-priority-loadbalancer` package, if installed.
* ``litellm``: LiteLLM's `Router` over the same deployments, if installed.

The last two are optional comparisons, never dependencies: `available()`
says whether their package imports, and the engine skips them cleanly.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from aoai_fallbacks._store import Store
    from aoai_fallbacks.balancer import Balancer
    from aoai_fallbacks.config import Backend

__all__ = ["APPROACHES", "Approach", "Asker", "Options", "balancer_asker", "by_name"]


@dataclass(frozen=True)
class Options:
    """What every approach is configured with alike."""

    max_tokens: int
    attempt_timeout: float


class Asker(Protocol):
    """One approach, ready to answer prompts; returns the answering backend's name when known."""

    async def ask(self, prompt: str) -> str | None: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class Approach:
    """A named way to send the workload, and how to build it over a list of backends."""

    name: str
    summary: str
    build: Callable[[Sequence[Backend], Options], Asker]
    requires: str | None = None
    """The top-level module an optional approach needs; None for the library's own."""
    single_backend: bool = False
    """Uses only the first backend (the direct call)."""

    def available(self) -> bool:
        return self.requires is None or importlib.util.find_spec(self.requires) is not None


def _messages(prompt: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}]


class _Direct:
    """One `AsyncAzureOpenAI` on the first backend, with the SDK's default retries."""

    def __init__(self, backends: Sequence[Backend], options: Options) -> None:
        import openai

        backend = backends[0]
        self._backend = backend
        self._options = options
        self._client = openai.AsyncAzureOpenAI(
            azure_endpoint=backend.endpoint,
            api_key=backend.api_key,
            api_version=backend.api_version,
            timeout=options.attempt_timeout,
        )

    async def ask(self, prompt: str) -> str | None:
        await self._client.chat.completions.create(
            model=self._backend.deployment,
            messages=_messages(prompt),  # type: ignore[arg-type]
            max_tokens=self._options.max_tokens,
        )
        return self._backend.name

    async def aclose(self) -> None:
        await self._client.close()


class _Runnable:
    """A LangChain chat model or runnable (the recipe, the balancer face) invoked with the prompt.

    `balancer` is the `Balancer` behind it, if any, so a live view can show its
    `snapshot()` while the workload runs.
    """

    def __init__(self, runnable: Any, balancer: Balancer | None = None) -> None:
        self._runnable = runnable
        self.balancer = balancer

    async def ask(self, prompt: str) -> str | None:
        await self._runnable.ainvoke(prompt)
        return None

    async def aclose(self) -> None:
        """Close each model's async openai client on the loop that used it.

        Left to the garbage collector, the SDK closes them from whatever loop
        runs then, and a later phase's loop prints "Event loop is closed"
        tracebacks for connections that belonged to this one.
        """
        for model in _models(self._runnable):
            await model.root_async_client.close()


def _models(runnable: Any) -> list[Any]:
    """The chat models inside `runnable`, however deeply its fallbacks nest (the larger tier)."""
    if hasattr(runnable, "fallbacks"):
        return [m for r in (runnable.runnable, *runnable.fallbacks) for m in _models(r)]
    return [runnable]


def _recipe(backends: Sequence[Backend], options: Options) -> Asker:
    from aoai_fallbacks.recipe import fallback_chain

    return _Runnable(
        fallback_chain(backends, max_tokens=options.max_tokens, timeout=options.attempt_timeout)
    )


def balancer_asker(
    backends: Sequence[Backend], options: Options, *, store: Store | None = None
) -> Asker:
    """The ``balancer`` approach; `store` shares what it learns (None: it learns alone, whatever
    the environment says: a bench must not share with a user's Redis)."""
    from aoai_fallbacks.balancer import Balancer
    from aoai_fallbacks.langchain import balanced_chat_model

    balancer = Balancer(backends, attempt_timeout=options.attempt_timeout, store=store)
    return _Runnable(
        balanced_chat_model(balancer=balancer, max_tokens=options.max_tokens), balancer
    )


class _PriorityLoadBalancer:
    """`openai-priority-loadbalancer` as its README shows: its transport inside the SDK's client.

    The package rewrites only the host of each request (every Azure resource
    listens on 443); the emulator's resources share a host and differ by port,
    so each backend gets a host alias that the adapter maps back to its real
    address after the package has chosen. All backends must share one
    deployment name, as the package assumes.
    """

    def __init__(self, backends: Sequence[Backend], options: Options) -> None:
        import httpx
        import openai

        oplb = importlib.import_module("openai_priority_loadbalancer")
        # it warns on stderr for every request it turns away; the table counts those
        logging.getLogger("openai-priority-loadbalancer").setLevel(logging.ERROR)

        targets = {f"backend-{b.name}": httpx.URL(b.endpoint) for b in backends}
        lb_backends = [
            oplb.Backend(alias, backend.priority, api_key=backend.api_key)
            for alias, backend in zip(targets, backends, strict=True)
        ]

        package_balancer: Any = oplb.AsyncLoadBalancer

        class _Balancer(package_balancer):  # type: ignore[misc]
            def _modify_request(self, request: Any, backend_index: int) -> None:
                super()._modify_request(request, backend_index)
                target = targets[self.backends[backend_index].host]
                request.url = request.url.copy_with(
                    scheme=target.scheme, host=target.host, port=target.port
                )
                request.headers["host"] = target.netloc.decode()

        first = backends[0]
        self._deployment = first.deployment
        self._options = options
        self._client = openai.AsyncAzureOpenAI(  # type: ignore[call-overload]
            azure_endpoint=first.endpoint,
            api_key=first.api_key,
            api_version=first.api_version,
            timeout=options.attempt_timeout,
            # the package is built on httpx, which openai 3.x (on httpx2) still accepts
            http_client=httpx.AsyncClient(transport=_Balancer(lb_backends)),
        )

    async def ask(self, prompt: str) -> str | None:
        await self._client.chat.completions.create(
            model=self._deployment,
            messages=_messages(prompt),
            max_tokens=self._options.max_tokens,
        )
        return None

    async def aclose(self) -> None:
        await self._client.close()


class _LiteLLMRouter:
    """LiteLLM's `Router` with one model group over every deployment, its defaults otherwise."""

    def __init__(self, backends: Sequence[Backend], options: Options) -> None:
        litellm = importlib.import_module("litellm")
        self._options = options
        self._router = litellm.Router(
            model_list=[
                {
                    "model_name": "bench",
                    "litellm_params": {
                        "model": f"azure/{backend.deployment}",
                        "api_base": backend.endpoint,
                        "api_key": backend.api_key,
                        "api_version": backend.api_version,
                        "timeout": options.attempt_timeout,
                    },
                }
                for backend in backends
            ]
        )

    async def ask(self, prompt: str) -> str | None:
        await self._router.acompletion(
            model="bench", messages=_messages(prompt), max_tokens=self._options.max_tokens
        )
        return None

    async def aclose(self) -> None:
        return None


APPROACHES: tuple[Approach, ...] = (
    Approach(
        "direct",
        "one deployment, openai SDK with its default retries",
        _Direct,
        single_backend=True,
    ),
    Approach("recipe", "seed recipe: fallback_chain (with_fallbacks)", _recipe),
    Approach("balancer", "aoai-fallbacks: balanced_chat_model", balancer_asker),
    Approach(
        "priority-lb",
        "openai-priority-loadbalancer (optional)",
        _PriorityLoadBalancer,
        requires="openai_priority_loadbalancer",
    ),
    Approach(
        "litellm",
        "LiteLLM Router, default settings (optional)",
        _LiteLLMRouter,
        requires="litellm",
    ),
)


def by_name(name: str) -> Approach:
    """The approach called `name`; KeyError naming the known ones otherwise."""
    for approach in APPROACHES:
        if approach.name == name:
            return approach
    known = ", ".join(a.name for a in APPROACHES)
    raise KeyError(f"unknown approach {name!r}; known: {known}")
