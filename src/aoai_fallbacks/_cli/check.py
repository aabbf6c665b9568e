"""Validate the configuration and probe every backend with the smallest real request.

Prints the backends the configuration describes, then sends each one chat
completion with max_tokens=1, directly (not through the balancer, so a
misconfigured backend cannot hide behind a healthy one), and reports whether it
is reachable, whether its key is accepted, whether its deployment exists, the
latency and the quota it has left. Every problem comes with its fix, naming the
variable to change.

With ``AOAI_REDIS_URL`` set, it also asks that Redis for a PING: a Redis that
does not answer fails no request, but leaves every process learning alone.

Exit status: 0 when every backend is usable (a throttled one is: it serves again
after its cooldown) and Redis, if configured, answers; 1 when not; 2 when the
configuration cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from aoai_fallbacks._classify import Outcome, Verdict, classify_response
from aoai_fallbacks.errors import ConfigError

if TYPE_CHECKING:
    import openai
    from openai.types.chat import ChatCompletionMessageParam

    from aoai_fallbacks.config import Backend

_PROBE_MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "ping"}]
_PROBE_INPUT = "ping"


@dataclass(frozen=True)
class ProbeResult:
    """What one probe learned about one backend: the rows of the report.

    `auth_ok` and `deployment_found` are None when the probe never got far
    enough to know (the endpoint was unreachable, or failed with a 5xx).
    """

    name: str
    endpoint: str
    deployment: str
    priority: int
    weight: float
    tier: str
    key: str
    reachable: bool
    auth_ok: bool | None
    deployment_found: bool | None
    usable: bool
    status: int | None
    latency_ms: float | None
    remaining_tokens: int | None
    remaining_requests: int | None
    retry_after: float | None
    note: str | None
    """A remark on a usable backend (throttled right now, probe rejected)."""
    fix: str | None
    """What is wrong with an unusable backend and which variable to change."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env-file",
        metavar="PATH",
        type=Path,
        help="read the configuration from this file (the environment still wins); "
        "default: ./.env when present",
    )
    parser.add_argument("--json", action="store_true", help="print a machine-readable report")
    parser.add_argument(
        "--timeout", metavar="S", type=float, default=10.0, help="seconds to wait for each probe"
    )


def run(args: argparse.Namespace) -> int:
    out: TextIO = sys.stdout
    try:
        from aoai_fallbacks.config import load_backends, load_redis_url, read_environment

        if args.env_file is not None and not args.env_file.is_file():
            raise ConfigError(f"--env-file {args.env_file} does not exist")
        environ = read_environment(dotenv=args.env_file or True)
        backends = load_backends(environ, dotenv=False)
        redis_url = load_redis_url(environ, dotenv=False)
    except ConfigError as exc:
        if args.json:
            print(json.dumps({"ok": False, "config_error": str(exc)}), file=out)
        else:
            print(f"configuration error: {exc}", file=sys.stderr)
        return 2

    if not args.json:
        print(_table(_CONFIG_COLUMNS, [_config_row(b) for b in backends]), file=out)
        print(f"\nprobing {len(backends)} backend(s), one 1-token request each...\n", file=out)
    results = probe_all(backends, environ, timeout=args.timeout)
    redis = None if redis_url is None else probe_redis(redis_url, timeout=args.timeout)
    ok = all(r.usable for r in results) and (redis is None or redis.answers)
    if args.json:
        report = {"ok": ok, "backends": [asdict(r) for r in results]}
        if redis is not None:
            report["redis"] = asdict(redis)
        print(json.dumps(report, indent=2), file=out)
    else:
        print(_table(_PROBE_COLUMNS, [_probe_row(r) for r in results]), file=out)
        print(file=out)
        for r in results:
            # Plain ASCII markers: the report may go to a file in a legacy encoding.
            if r.fix:
                print(f"FIX {r.name}: {r.fix}", file=out)
            elif r.note:
                print(f"NOTE {r.name}: {r.note}", file=out)
        if redis is not None:
            if redis.answers:
                print(f"Redis at {redis.where} answers ({redis.latency_ms:.1f} ms)", file=out)
            else:
                print(
                    f"FIX AOAI_REDIS_URL: Redis at {redis.where} does not answer ({redis.error}); "
                    "until it does, each process learns alone",
                    file=out,
                )
        usable = sum(r.usable for r in results)
        verdict = "all usable" if usable == len(results) else f"{len(results) - usable} not usable"
        print(f"{usable}/{len(results)} backends usable: {verdict}", file=out)
    return 0 if ok else 1


@dataclass(frozen=True)
class RedisProbe:
    """Whether the configured Redis answered a PING: where (no password), how fast, or why not."""

    where: str
    answers: bool
    latency_ms: float | None
    error: str | None


def probe_redis(url: str, *, timeout: float) -> RedisProbe:
    """PING the Redis at `url` once (needs the redis extra; without it, says so)."""
    try:
        import redis
    except ImportError:
        return RedisProbe(
            url.partition("://")[0], False, None, "pip install 'aoai-fallbacks[redis]'"
        )
    from aoai_fallbacks.redis_store import where

    try:
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    except ValueError:
        return RedisProbe("?", False, None, "not a Redis URL")
    place = where(client)
    start = time.perf_counter()
    try:
        client.ping()
    except (redis.RedisError, OSError) as error:
        return RedisProbe(place, False, None, type(error).__name__)
    finally:
        client.close()
    return RedisProbe(place, True, (time.perf_counter() - start) * 1000, None)


def probe_all(
    backends: Sequence[Backend], environ: Mapping[str, str], *, timeout: float
) -> list[ProbeResult]:
    """Probe every backend at once (one thread each), results in configuration order."""
    with ThreadPoolExecutor(max_workers=len(backends) or 1) as pool:
        return list(pool.map(lambda b: probe(b, environ, timeout=timeout), backends))


def probe(backend: Backend, environ: Mapping[str, str], *, timeout: float) -> ProbeResult:
    """Send `backend` one chat completion with max_tokens=1 (an embedding deployment: a
    one-word embedding) and read what its answer says."""
    import openai

    names = _Variables(backend, environ)
    where = backend.endpoint
    result = _Row(backend)
    try:
        client = _client(backend, timeout)
    except ConfigError as exc:  # Entra ID without azure-identity installed
        return result(reachable=False, fix=str(exc))
    except Exception as exc:  # azure-identity's own errors: it found no credential to use
        return result(
            reachable=False,
            fix=f"no Microsoft Entra ID token ({type(exc).__name__}): sign in (az login) "
            f"or set {names.key}",
        )
    start = time.perf_counter()  # the request's round trip, not the client's set-up
    try:
        raw: Any
        if backend.pool == "embeddings":
            raw = client.embeddings.with_raw_response.create(
                model=backend.deployment, input=_PROBE_INPUT
            )
        else:
            raw = client.chat.completions.with_raw_response.create(
                model=backend.deployment, messages=_PROBE_MESSAGES, max_tokens=1
            )
    except openai.APITimeoutError:
        return result(
            reachable=False,
            fix=f"{where} did not answer within {timeout:g} s: check {names.endpoint} "
            "and the network, or raise --timeout",
        )
    except openai.APIConnectionError as exc:
        return result(
            reachable=False,
            fix=f"{where} is unreachable ({_cause(exc)}): check {names.endpoint}",
        )
    except openai.APIStatusError as exc:
        response = exc.response
        verdict = classify_response(
            exc.status_code, response.headers, response.content, now_wall=time.time()
        )
        seen = _seen(verdict, latency_ms=(time.perf_counter() - start) * 1000)
        return _judge(verdict, exc.message, names, result, seen)
    latency = (time.perf_counter() - start) * 1000
    answer = classify_response(
        raw.http_response.status_code, raw.headers, None, now_wall=time.time()
    )
    return result(
        reachable=True, auth_ok=True, deployment_found=True, usable=True, **_seen(answer, latency)
    )


def _seen(verdict: Verdict, latency_ms: float) -> dict[str, Any]:
    """The numbers every answered probe reports, read by the balancer's own classification."""
    return {
        "status": verdict.status,
        "latency_ms": latency_ms,
        "remaining_tokens": verdict.remaining_tokens,
        "remaining_requests": verdict.remaining_requests,
    }


def _judge(
    verdict: Verdict,
    message: str,
    names: _Variables,
    result: _Row,
    seen: dict[str, Any],
) -> ProbeResult:
    """Turn the balancer's verdict on an error answer into a report row with its fix.

    The verdict (`aoai_fallbacks._classify`) says what the balancer will do with
    this backend; the status and error code say which variable to change.
    """
    status, backend = verdict.status, names.backend
    where = backend.endpoint
    if verdict.outcome is Outcome.THROTTLED:
        wait = verdict.retry_after
        after = f", retry after {wait:g} s" if wait is not None else ""
        return result(
            reachable=True,
            auth_ok=True,
            deployment_found=True,
            usable=True,
            retry_after=wait,
            note=f"throttled right now (429{after}): usable, it serves again after its cooldown",
            **seen,
        )
    if verdict.reason == "DeploymentNotFound":
        return result(
            reachable=True,
            auth_ok=True,
            deployment_found=False,
            fix=f"deployment {backend.deployment!r} does not exist on {where} (404): "
            f"{names.deployment_fix()}",
            **seen,
        )
    if status in (401, 403):
        who, hint = (
            (f"{names.key} is rejected", "check the key for that resource")
            if backend.api_key is not None
            else (
                "the Microsoft Entra ID token is rejected",
                "grant your identity the 'Cognitive Services OpenAI User' role there, "
                f"or set {names.key}",
            )
        )
        return result(
            reachable=True, auth_ok=False, fix=f"{who} by {where} ({status}): {hint}", **seen
        )
    if status == 404:
        return result(
            reachable=True,
            fix=f"{where} has no Azure OpenAI API at this address (404): check {names.endpoint} "
            "(it should look like https://NAME.openai.azure.com) and AOAI_API_VERSION",
            **seen,
        )
    if verdict.outcome is Outcome.FAILED:
        return result(
            reachable=True,
            fix=f"{where} is failing right now ({status}): try again later, "
            f"or check the service health of that resource",
            **seen,
        )
    # REJECTED or CONTEXT_OVERFLOW: the request was refused, not the backend.
    return result(
        reachable=True,
        auth_ok=True,
        deployment_found=True,
        usable=True,
        note=f"the deployment refused the 1-token probe ({status}: {message}); "
        "the key and the deployment are fine",
        **seen,
    )


class _Row:
    """Fills a `ProbeResult` with the backend's configuration and the probe's defaults."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def __call__(self, **seen: Any) -> ProbeResult:
        b = self._backend
        fields: dict[str, Any] = {
            "auth_ok": None,
            "deployment_found": None,
            "usable": False,
            "status": None,
            "latency_ms": None,
            "remaining_tokens": None,
            "remaining_requests": None,
            "retry_after": None,
            "note": None,
            "fix": None,
        }
        fields.update(seen)
        return ProbeResult(
            name=b.name,
            endpoint=b.endpoint,
            deployment=b.deployment,
            priority=b.priority,
            weight=b.weight,
            tier=b.tier,
            key=mask(b.api_key),
            **fields,
        )


class _Variables:
    """The names of the variables that configure one backend, for the fixes."""

    def __init__(self, backend: Backend, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.backend = backend
        number = backend.name.split("-")[0]
        self.endpoint = f"AOAI_ENDPOINT_{number}"
        self.key = f"AOAI_KEY_{number}"
        from aoai_fallbacks.config import DEPLOYMENT_VARIABLE

        large = backend.tier == "large"
        prefix = "AOAI_LARGE_DEPLOYMENT" if large else DEPLOYMENT_VARIABLE[backend.pool]
        self._own_deployment = f"{prefix}_{number}"
        self._shared_deployment = prefix

    def deployment_fix(self) -> str:
        own, shared = self._own_deployment, self._shared_deployment
        if own in self._environ:
            return f"set {own} to a deployment that exists on that resource"
        return (
            f"set {own} to a deployment that exists on that resource "
            f"(it uses {shared}, shared by all backends)"
        )


def _client(backend: Backend, timeout: float) -> openai.AzureOpenAI:
    """An `AzureOpenAI` aimed at this one backend, with no retries: one probe, one request."""
    import openai

    from aoai_fallbacks._auth import auth_headers

    if backend.api_key is not None:
        api_key, token = backend.api_key, None
    else:
        api_key, token = None, auth_headers(backend)["Authorization"].removeprefix("Bearer ")
    return openai.AzureOpenAI(
        azure_endpoint=backend.endpoint,
        api_version=backend.api_version,
        api_key=api_key,
        azure_ad_token=token,
        max_retries=0,
        timeout=timeout,
    )


def _cause(exc: BaseException) -> str:
    """The innermost reason of a connection error, e.g. 'Connection refused'."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    text = str(exc) or type(exc).__name__
    return text.split("] ")[-1]


def mask(key: str | None) -> str:
    """A key as it may be shown: its last four characters when it is long enough to spare them."""
    if key is None:
        return "Entra ID"
    return f"****{key[-4:]}" if len(key) >= 16 else "****"


_CONFIG_COLUMNS = ("name", "endpoint host", "deployment", "priority", "weight", "tier", "key")
_PROBE_COLUMNS = (
    "name",
    "reachable",
    "auth ok",
    "deployment",
    "status",
    "latency",
    "tokens left",
    "requests left",
)


def _config_row(b: Backend) -> list[str]:
    host = urlsplit(b.endpoint).netloc
    return [
        b.name,
        host,
        b.deployment,
        str(b.priority),
        f"{b.weight:g}",
        b.tier if b.pool == "chat" else b.pool,
        mask(b.api_key),
    ]


def _probe_row(r: ProbeResult) -> list[str]:
    return [
        r.name,
        _yes_no(r.reachable),
        _yes_no(r.auth_ok),
        _yes_no(r.deployment_found, yes="found", no="missing"),
        "-" if r.status is None else str(r.status),
        "-" if r.latency_ms is None else f"{r.latency_ms:.0f} ms",
        _count(r.remaining_tokens),
        _count(r.remaining_requests),
    ]


def _yes_no(value: bool | None, *, yes: str = "yes", no: str = "no") -> str:
    return "?" if value is None else yes if value else no


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain aligned text table: readable in a terminal, a log and a README alike."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])
