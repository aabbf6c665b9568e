"""Start and stop a set of emulated resources: the `run_emulator` context manager."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import replace

from aoai_fallbacks._clock import SYSTEM_CLOCK
from aoai_fallbacks.emulator._deployment import DeploymentConfig, DeploymentStats
from aoai_fallbacks.emulator._faults import Faults
from aoai_fallbacks.emulator._quota import MonotonicClock
from aoai_fallbacks.emulator._resource import Resource


class Emulator:
    """Running resources, in order: `resources[0]` is "01"."""

    def __init__(self, resources: Sequence[Resource]) -> None:
        self.resources = list(resources)

    def env(
        self,
        *,
        deployment: str | None = None,
        large_deployment: str | None = None,
        embedding_deployment: str | None = None,
    ) -> dict[str, str]:
        """The `AOAI_*` variables that point a client at every resource.

        `deployment` defaults to the first chat deployment configured (or the first
        deployment, if all are embeddings ones); `AOAI_EMBEDDING_DEPLOYMENT` is
        `embedding_deployment`, else the first embeddings deployment, else absent.
        """
        configs = [live.config for live in self.resources[0].deployments.values()]
        chats = [config.name for config in configs if config.kind == "chat"]
        embeddings = [config.name for config in configs if config.kind == "embeddings"]
        first = (chats or embeddings)[0]
        variables: dict[str, str] = {}
        for resource in self.resources:
            variables[f"AOAI_ENDPOINT_{resource.name}"] = resource.endpoint
            variables[f"AOAI_KEY_{resource.name}"] = resource.key
        variables["AOAI_DEPLOYMENT"] = deployment or first
        if large_deployment is not None:
            variables["AOAI_LARGE_DEPLOYMENT"] = large_deployment
        embedding_deployment = embedding_deployment or next(iter(embeddings), None)
        if embedding_deployment is not None:
            variables["AOAI_EMBEDDING_DEPLOYMENT"] = embedding_deployment
        return variables

    def stats(self, deployment: str) -> DeploymentStats:
        """The deployment's counts summed over every resource."""
        total = DeploymentStats()
        for resource in self.resources:
            total += resource.stats(deployment)
        return total

    def reset(self) -> None:
        """Reset every resource (counts, quota use, faults)."""
        for resource in self.resources:
            resource.reset()

    def __repr__(self) -> str:
        return f"Emulator(resources={self.resources!r})"


def _keys(keys: Sequence[str] | None, resources: int) -> list[str]:
    if keys is None:
        return [secrets.token_hex(16) for _ in range(resources)]
    if len(keys) == 1:
        return list(keys) * resources
    if len(keys) != resources:
        raise ValueError(f"give one key, or one per resource ({resources}), not {len(keys)}")
    return list(keys)


def _faults_for(
    deployments: Sequence[DeploymentConfig], faults: Faults | Mapping[str, Faults] | None
) -> dict[str, Faults]:
    if faults is None:
        return {}
    if isinstance(faults, Faults):
        return {config.name: replace(faults) for config in deployments}
    unknown = set(faults) - {config.name for config in deployments}
    if unknown:
        raise ValueError(f"faults for unknown deployment(s): {', '.join(sorted(unknown))}")
    return dict(faults)


@contextmanager
def run_emulator(
    resources: int = 1,
    deployments: Sequence[DeploymentConfig] = (DeploymentConfig("gpt-35-turbo"),),
    *,
    clock: MonotonicClock | None = None,
    seed: int = 0,
    keys: Sequence[str] | None = None,
    port: int | None = None,
    faults: Faults | Mapping[str, Faults] | None = None,
    faulty: Sequence[str] | None = None,
) -> Iterator[Emulator]:
    """Serve `resources` emulated Azure OpenAI resources on loopback while the block runs.

    Each resource gets a free port (or `port`, `port + 1`, ...), its own key
    (generated unless `keys` gives one for all or one each) and every deployment
    in `deployments`. `clock` (anything with `.monotonic()`, e.g. a `FakeClock`)
    drives the quota windows; `seed` fixes every random choice. `faults` (one
    `Faults` for every deployment, or one per deployment name) apply from the
    start, on every resource or only on those named in `faulty` (e.g. ["02"]).
    """
    try:  # the server extra is needed to run, not to import this package
        from aoai_fallbacks.emulator._server import HOST, ServerThread, bind
    except ImportError as missing:
        raise ImportError(
            "the emulator needs the server extra: pip install 'aoai-fallbacks[server]'"
        ) from missing
    if resources < 1:
        raise ValueError("an emulator needs at least one resource")
    if not deployments:
        raise ValueError("an emulator needs at least one deployment")
    names = [config.name for config in deployments]
    if len(set(names)) != len(names):
        raise ValueError(f"deployment names repeat: {names}")
    chosen_keys = _keys(keys, resources)
    start_faults = _faults_for(deployments, faults)
    with ExitStack() as stack:
        sockets = []
        for index in range(resources):
            sock = bind(0 if port is None else port + index)
            stack.callback(sock.close)
            sockets.append(sock)
        members = []
        for index, sock in enumerate(sockets):
            name = f"{index + 1:02d}"
            applies = faulty is None or name in faulty
            resource = Resource(
                name,
                chosen_keys[index],
                deployments,
                faults=start_faults if applies else {},
                clock=clock or SYSTEM_CLOCK,
                seed=seed,
            )
            resource.endpoint = f"http://{HOST}:{sock.getsockname()[1]}"
            members.append(resource)
        from aoai_fallbacks.emulator._app import build_app

        def release_hanging() -> None:
            for member in members:
                member.closing.set()

        server = ServerThread(
            [build_app(member) for member in members], sockets, on_stop=release_hanging
        )
        server.start()
        stack.callback(server.stop)
        yield Emulator(members)
