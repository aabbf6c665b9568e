"""Configuration: the Azure OpenAI backends, read from the environment and `.env`.

One backend per ``AOAI_ENDPOINT_nn`` (``nn`` any digits, ordered numerically,
gaps allowed), with its ``AOAI_KEY_nn`` (none: Microsoft Entra ID), its
chat deployment (``AOAI_DEPLOYMENT_nn`` or the shared ``AOAI_DEPLOYMENT``), its
priority group and weight. ``AOAI_LARGE_DEPLOYMENT[_nn]`` adds a larger-model
tier on the same endpoints, tried after every base deployment.
``AOAI_EMBEDDING_DEPLOYMENT[_nn]`` adds the resource's embedding deployment to
the embeddings pool: a resource may serve chat, embeddings or both, each
deployment with its own quota.

A configuration mistake found at start-up costs a minute; found at 3 a.m. under
load, when the one healthy backend turns out to be misspelt, it costs an
outage. So every malformed case is a `ConfigError` that names the variable and
says what to set, and never repeats a key's value.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from importlib.util import find_spec
from pathlib import Path
from typing import Literal

from aoai_fallbacks._http import httpx
from aoai_fallbacks.errors import ConfigError

__all__ = [
    "DEFAULT_API_VERSION",
    "DEPLOYMENT_VARIABLE",
    "Backend",
    "embedding_twin",
    "larger_tier",
    "load_backends",
]

DEFAULT_API_VERSION = "2024-10-21"
"""The latest GA api-version of Azure OpenAI's dated inference API (chat completions).

Newer dated versions are previews, which Azure retires within months; a GA
version keeps working, so it is the safe default. Override with
``AOAI_API_VERSION``.
"""

Tier = Literal["base", "large"]
Pool = Literal["chat", "embeddings"]
"""Which operations a deployment serves: chat completions and Responses, or embeddings."""

DEPLOYMENT_VARIABLE: dict[Pool, str] = {
    "chat": "AOAI_DEPLOYMENT",
    "embeddings": "AOAI_EMBEDDING_DEPLOYMENT",
}
"""The variable (shared; ``_nn`` for one backend) that gives each pool its deployments."""

_PER_BACKEND = (
    "ENDPOINT",
    "KEY",
    "DEPLOYMENT",
    "PRIORITY",
    "WEIGHT",
    "LARGE_DEPLOYMENT",
    "EMBEDDING_DEPLOYMENT",
)
_SHARED = (
    "AOAI_DEPLOYMENT",
    "AOAI_LARGE_DEPLOYMENT",
    "AOAI_EMBEDDING_DEPLOYMENT",
    "AOAI_API_VERSION",
    "AOAI_REDIS_URL",
    "AOAI_REDIS_PREFIX",
    "AOAI_PROXY_KEYS",
    "AOAI_PROXY_ALIASES",
    "AOAI_PROXY_MAX_BODY",
)
_REDIS_SCHEMES = ("redis", "rediss", "unix")
# Any digits here, so that a backend number in other digits is refused, not silently ignored.
_NUMBERED = re.compile(r"AOAI_(?P<kind>[A-Z0-9_]+?)_(?P<nn>\d+)")
_BACKEND_NUMBER = re.compile(r"[0-9]{1,6}")
_API_VERSION = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(-[a-z]+)?|v1|latest|preview")
_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")
_DECIMAL = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
# Azure documents no rule of its own for deployment names; this is the one its resource
# provider (Microsoft.CognitiveServices, in the ARM specification) declares for the account's
# name: 2 to 64 characters, ASCII letters, digits, '_', '.' and '-', starting with a letter or
# a digit (its other named children share the pattern). A name outside it cannot exist on
# Azure, and '.' or '..' would rewrite the request's path.
_DEPLOYMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{1,63}")
# Printable ASCII without spaces: what a key sent as an HTTP header value can be, and what a
# URL can be written with (an international host name in its xn-- form).
_VISIBLE_ASCII = re.compile(r"[!-~]+")
_URL_PARTS = re.compile(
    r"(?:(?P<scheme>[^:/?#]*):)?(?://(?:(?P<userinfo>[^/?#]*)@)?(?P<hostport>[^/?#]*))?"
    r"(?P<path>[^?#]*)(?P<rest>.*)",
    re.DOTALL,
)
_HOST_PORT = re.compile(r"(?:\[[^\]]*\]|[^:\[\]]*)(?::(?P<port>.*))?", re.DOTALL)
_PORT = re.compile(r"[0-9]{1,5}")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SHOWN_CHARACTERS = 60
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
_SETUP_HINT = (
    "set AOAI_ENDPOINT_01 and AOAI_KEY_01 (plus AOAI_DEPLOYMENT) in the environment or a "
    ".env file; .env.example lists every variable"
)


@dataclass(frozen=True, repr=False)
class Backend:
    """One Azure OpenAI deployment to send requests to.

    `name` is the ``nn`` of ``AOAI_ENDPOINT_nn`` (``"01"``; the larger tier
    ``"01-large"``, the embedding deployment ``"01-embeddings"``). `pool`
    says which operations it serves: ``"chat"`` (chat completions and
    Responses) or ``"embeddings"``. `api_key` None means Microsoft Entra ID
    through azure-identity. The key never appears in `repr` or `str`:
    backends end up in logs, tracebacks and bug reports.
    """

    name: str
    endpoint: str
    deployment: str
    api_key: str | None = None
    priority: int = 1
    weight: float = 1.0
    tier: Tier = "base"
    api_version: str = DEFAULT_API_VERSION
    pool: Pool = "chat"

    def __post_init__(self) -> None:
        subject = f"backend {self.name!r}"
        _require_text(self.name, "Backend name")
        object.__setattr__(
            self, "endpoint", _check_endpoint(self.endpoint, f"{subject}: endpoint")
        )
        _check_deployment(self.deployment, f"{subject}: deployment")
        if self.api_key is not None:
            _check_key(self.api_key, f"{subject}: api_key (None signs in with Entra ID)")
        _check_priority(self.priority, f"{subject}: priority")
        _check_weight(self.weight, f"{subject}: weight")
        if self.tier not in ("base", "large"):
            raise ConfigError(f"{subject}: tier must be 'base' or 'large', got {self.tier!r}")
        if self.pool not in ("chat", "embeddings"):
            raise ConfigError(f"{subject}: pool must be 'chat' or 'embeddings', got {self.pool!r}")
        if self.pool == "embeddings" and self.tier != "base":
            raise ConfigError(f"{subject}: an embedding deployment has no larger tier")
        _check_api_version(self.api_version, f"{subject}: api_version")

    @property
    def label(self) -> str:
        """How logs name this backend: ``01 (gpt-35-turbo)``."""
        return f"{self.name} ({self.deployment})"

    def __repr__(self) -> str:
        shown = []
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name == "api_key":
                shown.append(f"api_key={'<entra>' if value is None else '<set>'}")
            else:
                shown.append(f"{field.name}={value!r}")
        return f"Backend({', '.join(shown)})"


def load_backends(
    environ: Mapping[str, str] | None = None, *, dotenv: str | Path | bool = True
) -> list[Backend]:
    """The backends the ``AOAI_*`` variables describe: base tier by ``nn``, then the larger tier.

    With `environ` None, reads `os.environ` over the variables of a `.env`
    file (the real environment wins): `dotenv` True searches for `.env` from
    the working directory upwards, a path names the file, False reads none.
    With an explicit `environ` mapping, a `.env` file is read only when
    `dotenv` is a path, so a test's dictionary is the whole configuration.

    Raises `ConfigError` naming the variable for every malformed case, and
    when no backend is configured at all.
    """
    return _Reader(read_environment(environ, dotenv=dotenv)).backends()


def read_environment(
    environ: Mapping[str, str] | None = None, *, dotenv: str | Path | bool = True
) -> dict[str, str]:
    """The variables `load_backends` reads: `environ` (default `os.environ`) over a `.env` file.

    `dotenv` as for `load_backends`. Useful to tell which variable is in
    effect, or whether anything is configured at all (`is_configured`).
    """
    merged: dict[str, str] = _read_dotenv(dotenv, search=environ is None)
    merged.update(os.environ if environ is None else environ)
    return merged


def is_configured(
    environ: Mapping[str, str] | None = None, *, dotenv: str | Path | bool = True
) -> bool:
    """Whether any ``AOAI_*`` variable is set (environment or `.env`), well-formed or not.

    The examples and the demo run on the built-in emulator only when this is
    False, so a broken configuration is reported instead of silently ignored.
    """
    return any(name.startswith("AOAI_") for name in read_environment(environ, dotenv=dotenv))


def load_redis_url(
    environ: Mapping[str, str] | None = None, *, dotenv: str | Path | bool = True
) -> str | None:
    """``AOAI_REDIS_URL``, the Redis that balancers share what they learn through; None if unset.

    `environ` and `dotenv` as for `load_backends`. ``redis://``,
    ``rediss://`` (TLS) or ``unix://``, with a password if needed; a
    malformed one raises `ConfigError` without showing the password.
    """
    url = read_environment(environ, dotenv=dotenv).get("AOAI_REDIS_URL", "").strip()
    if not url:
        return None
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in _REDIS_SCHEMES:
        raise ConfigError(
            f"AOAI_REDIS_URL={_shown_url(url)} is not a Redis URL: "
            "use redis://host:6379/0, rediss://... (TLS) or unix:///path"
        )
    return url


def larger_tier(backend: Backend, deployment: str) -> Backend:
    """`backend`'s larger-model twin: same endpoint, key and priority, on `deployment`."""
    return replace(backend, name=f"{backend.name}-large", tier="large", deployment=deployment)


def embedding_twin(backend: Backend, deployment: str) -> Backend:
    """`backend`'s embedding deployment: same endpoint, key and priority, in the embeddings pool."""
    return replace(
        backend, name=f"{backend.name}-embeddings", pool="embeddings", deployment=deployment
    )


def _read_dotenv(dotenv: str | Path | bool, *, search: bool) -> dict[str, str]:
    from dotenv import dotenv_values, find_dotenv

    if dotenv is True and search:
        found = find_dotenv(usecwd=True)
        path = Path(found) if found else None
    elif isinstance(dotenv, (str, Path)):
        path = Path(dotenv)
        if not path.is_file():
            raise ConfigError(f"the .env file {str(path)!r} does not exist")
    else:
        path = None
    if path is None:
        return {}
    try:
        values = dotenv_values(path)
    except UnicodeDecodeError:
        raise ConfigError(
            f"the .env file {str(path)!r} is not UTF-8 text: save it as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"the .env file {str(path)!r} cannot be read: {exc.strerror or type(exc).__name__}"
        ) from None
    return {k: v for k, v in values.items() if v is not None}


def _installed(module: str) -> bool:
    """Whether `module` can be imported, without importing it.

    `find_spec` imports a submodule's parent package first, and raises
    instead of answering None when that parent is not installed.
    """
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):
        return False


class _Reader:
    """Turns the ``AOAI_*`` variables of one mapping into validated backends."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._env = {k: v for k, v in environ.items() if k.startswith("AOAI_")}
        self._numbers = self._backend_numbers()

    def backends(self) -> list[Backend]:
        api_version = self._optional("AOAI_API_VERSION") or DEFAULT_API_VERSION
        _check_api_version(api_version, "AOAI_API_VERSION")
        base: list[Backend] = []
        large: list[Backend] = []
        embeddings: list[Backend] = []
        for nn in sorted(self._numbers, key=int):
            chat, embedding = self._backend(nn, api_version)
            if embedding is not None:
                embeddings.append(embedding)
            large_deployment = self._deployment(
                f"AOAI_LARGE_DEPLOYMENT_{nn}", "AOAI_LARGE_DEPLOYMENT"
            )
            if chat is None:
                if large_deployment is not None and large_deployment[0].endswith(f"_{nn}"):
                    raise ConfigError(
                        f"{large_deployment[0]} is set but backend {nn} has no chat deployment "
                        f"to be the larger tier of: set AOAI_DEPLOYMENT_{nn}, or remove "
                        f"{large_deployment[0]}"
                    )
                continue
            base.append(chat)
            if large_deployment is not None:
                name, value = large_deployment
                if value == chat.deployment:
                    raise ConfigError(
                        f"{name} names the same deployment as the base tier of backend {nn} "
                        f"({value!r}): set it to the larger model's deployment, or unset it"
                    )
                large.append(larger_tier(chat, value))
        if not base and not embeddings:
            raise ConfigError(f"no Azure OpenAI backend configured: {_SETUP_HINT}")
        every = base + large + embeddings
        _reject_duplicates(every)
        if any(b.api_key is None for b in every) and not _installed("azure.identity"):
            nn = next(b.name for b in every if b.api_key is None).removesuffix("-embeddings")
            raise ConfigError(
                f"AOAI_ENDPOINT_{nn} is set but AOAI_KEY_{nn} is not: without a key the backend "
                "signs in with Microsoft Entra ID, which needs azure-identity "
                f"(pip install 'aoai-fallbacks[entra]'); or set AOAI_KEY_{nn}"
            )
        return every

    def _backend_numbers(self) -> list[str]:
        """Every ``nn`` with an ``AOAI_ENDPOINT_nn``; any other numbered variable must match one."""
        endpoints: dict[int, str] = {}
        for name in self._env:
            match = _NUMBERED.fullmatch(name)
            if match is None:
                suggestion = None if name in _SHARED else _closest(name, _SHARED)
                if suggestion is not None:
                    raise ConfigError(
                        f"{_shown_name(name)} is not a known variable: did you mean {suggestion}?"
                    )
                continue
            kind, nn = match["kind"], match["nn"]
            if _BACKEND_NUMBER.fullmatch(nn) is None:
                raise ConfigError(
                    f"{_shown_name(name)}: a backend number is 1 to 6 digits 0-9 "
                    "(AOAI_ENDPOINT_01, AOAI_KEY_01, ...)"
                )
            if kind not in _PER_BACKEND:
                known = [f"AOAI_{k}_{nn}" for k in _PER_BACKEND]
                hint = _closest(name, known)
                raise ConfigError(
                    f"{_shown_name(name)} is not a known variable"
                    + (f": did you mean {hint}?" if hint else f" (known: {', '.join(known)})")
                )
            if kind == "ENDPOINT":
                other = endpoints.setdefault(int(nn), nn)
                if other != nn:
                    first, second = sorted((other, nn))
                    raise ConfigError(
                        f"AOAI_ENDPOINT_{first} and AOAI_ENDPOINT_{second} are the same backend "
                        "number: give each backend its own number"
                    )
        for name in sorted(self._env):
            match = _NUMBERED.fullmatch(name)
            if match is not None and match["kind"] != "ENDPOINT":
                nn = match["nn"]
                if f"AOAI_ENDPOINT_{nn}" not in self._env:
                    raise ConfigError(
                        f"{name} is set but AOAI_ENDPOINT_{nn} is not: set AOAI_ENDPOINT_{nn} "
                        f"to that resource's endpoint (https://NAME.openai.azure.com), "
                        f"or remove {name}"
                    )
        return list(endpoints.values())

    def _backend(self, nn: str, api_version: str) -> tuple[Backend | None, Backend | None]:
        """Backend `nn`'s chat deployment and its embedding deployment (at least one of them)."""
        endpoint_var = f"AOAI_ENDPOINT_{nn}"
        endpoint = _check_endpoint(self._required(endpoint_var), endpoint_var)
        deployment = self._deployment(f"AOAI_DEPLOYMENT_{nn}", "AOAI_DEPLOYMENT")
        embedding = self._deployment(
            f"AOAI_EMBEDDING_DEPLOYMENT_{nn}", "AOAI_EMBEDDING_DEPLOYMENT"
        )
        if deployment is None and embedding is None:
            raise ConfigError(
                f"no deployment for backend {nn}: set AOAI_DEPLOYMENT_{nn} (chat) or "
                f"AOAI_EMBEDDING_DEPLOYMENT_{nn} (embeddings), or AOAI_DEPLOYMENT for every "
                "backend (the name of the model deployment, e.g. gpt-35-turbo)"
            )
        key_var = f"AOAI_KEY_{nn}"
        api_key = None
        if key_var in self._env:
            api_key = self._env[key_var].strip()
            if not api_key:
                raise ConfigError(
                    f"{key_var} is empty: set it to the resource's key, or remove it to sign in "
                    "with Microsoft Entra ID"
                )
            _check_key(api_key, key_var)
        priority_var, weight_var = f"AOAI_PRIORITY_{nn}", f"AOAI_WEIGHT_{nn}"
        priority_text = self._optional(priority_var)
        weight_text = self._optional(weight_var)
        backend = Backend(
            name=nn,
            endpoint=endpoint,
            deployment=(deployment or embedding or ("", ""))[1],
            api_key=api_key,
            priority=1 if priority_text is None else _parse_priority(priority_text, priority_var),
            weight=1.0 if weight_text is None else _parse_weight(weight_text, weight_var),
            api_version=api_version,
        )
        twin = None if embedding is None else embedding_twin(backend, embedding[1])
        return (None if deployment is None else backend), twin

    def _required(self, name: str) -> str:
        value = self._optional(name)
        if value is None:
            raise ConfigError(f"{name} is not set")
        return value

    def _optional(self, name: str) -> str | None:
        """The variable's value stripped, None when unset; set but blank is an error."""
        if name not in self._env:
            return None
        value = self._env[name].strip()
        if not value:
            raise ConfigError(f"{name} is set but empty: give it a value, or remove it")
        return value

    def _deployment(self, own: str, shared: str) -> tuple[str, str] | None:
        """The per-backend deployment, else the shared one: (the name in effect, its value)."""
        for name in (own, shared):
            value = self._optional(name)
            if value is not None:
                _check_deployment(value, name)
                return name, value
        return None


def _closest(name: str, candidates: tuple[str, ...] | list[str]) -> str | None:
    matches = difflib.get_close_matches(name, candidates, n=1, cutoff=0.8)
    return matches[0] if matches else None


def _reject_duplicates(backends: list[Backend]) -> None:
    """Two backends on one deployment share one quota: falling back between them is useless."""
    seen: dict[tuple[str, str], Backend] = {}
    for backend in backends:
        where = (backend.endpoint.lower(), backend.deployment)
        first = seen.setdefault(where, backend)
        if first is not backend:
            hint = (
                " (a shared AOAI_LARGE_DEPLOYMENT can be set per backend: AOAI_LARGE_DEPLOYMENT_nn)"
                if backend.tier == "large"
                else ""
            )
            raise ConfigError(
                f"{_described(first)} and {_described(backend)} name the same endpoint and "
                f"deployment ({backend.endpoint}, {backend.deployment!r}): they share one quota, "
                f"so falling back from one to the other cannot help; remove one, or give it "
                f"another deployment{hint}"
            )


def _described(backend: Backend) -> str:
    if backend.pool == "embeddings":
        return (
            f"the embedding deployment of AOAI_ENDPOINT_{backend.name.removesuffix('-embeddings')}"
        )
    if backend.tier == "large":
        return f"the larger tier of AOAI_ENDPOINT_{backend.name.removesuffix('-large')}"
    return f"AOAI_ENDPOINT_{backend.name}"


def _require_text(value: object, what: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{what} must be a non-empty string")


def _check_key(key: str, what: str) -> None:
    """A key is sent as an HTTP header value: one stray character breaks every request.

    A line break, a space or a letter outside ASCII makes the HTTP library
    refuse the header, with the whole value in its error. The message here
    never shows the value, not even in part: it is the one secret.
    """
    _require_text(key, what)
    if _VISIBLE_ASCII.fullmatch(key) is None:
        raise ConfigError(
            f"{what} must be printable ASCII without spaces or line breaks, as every Azure "
            "OpenAI key is: copy the key again, alone, from the resource's Keys and Endpoint page"
        )


def _check_deployment(value: str, what: str) -> None:
    """A deployment name Azure could have given: it becomes one segment of the request's path."""
    _require_text(value, what)
    if _DEPLOYMENT_NAME.fullmatch(value) is None:
        raise ConfigError(
            f"{what} must be an Azure deployment name, 2 to 64 ASCII letters, digits, '_', "
            f"'.' or '-' starting with a letter or digit, like gpt-35-turbo; "
            f"got {_shown_value(value)}"
        )


def _check_endpoint(value: str, what: str) -> str:
    """The endpoint without its trailing slash, if it is an https URL (or loopback http).

    Parsed by the same `httpx` that sends the requests, so the host and port
    checked here are the ones the requests go to; the port as written is
    checked too, since `httpx` accepts ports a socket then wraps (70000 is
    4464). Messages show the URL with any userinfo, query and fragment masked.
    """
    _require_text(value, what)
    endpoint = value.strip().rstrip("/")
    got = f"got {_shown_url(endpoint)}"
    not_a_url = ConfigError(f"{what} must be a URL like https://NAME.openai.azure.com, {got}")
    if _VISIBLE_ASCII.fullmatch(endpoint) is None:
        raise ConfigError(
            f"{what} must be printable ASCII without spaces (write an international host name "
            f"in its xn-- form), {got}"
        )
    parts = _URL_PARTS.fullmatch(endpoint)
    try:
        url = httpx.URL(endpoint)
    except (httpx.InvalidURL, ValueError):
        raise not_a_url from None
    if parts is None or url.scheme not in _DEFAULT_PORTS or not url.host:
        raise not_a_url
    if parts["userinfo"] is not None:
        raise ConfigError(f"{what} must not carry credentials in the URL: put the key in AOAI_KEY")
    if parts["rest"] or "openai" in parts["path"].lower().split("/"):
        raise ConfigError(
            f"{what} must be the resource's base URL (https://NAME.openai.azure.com), "
            f"not a request URL: {got}"
        )
    port = _written_port(url.scheme, parts["hostport"] or "")
    if port is None or port != (url.port or _DEFAULT_PORTS[url.scheme]):
        raise ConfigError(
            f"{what} must have no port or a port from 1 to 65535, in digits 0-9: "
            f"{_shown_url(endpoint)}"
        )
    if url.scheme == "http" and not _is_loopback(url.host):
        raise ConfigError(
            f"{what} must use https:// (plain http is only allowed on loopback, for local "
            f"emulators), {got}"
        )
    return endpoint


def _written_port(scheme: str, hostport: str) -> int | None:
    """The port as written after the host (the scheme's default if none), None if malformed."""
    match = _HOST_PORT.fullmatch(hostport)
    if match is None:
        return None
    written = match["port"]
    if written is None:
        return _DEFAULT_PORTS[scheme]
    if _PORT.fullmatch(written) is None or not 1 <= int(written) <= 65535:
        return None
    return int(written)


def _shown_url(url: str) -> str:
    """`url` as a message may show it: userinfo, query and fragment masked, quoted, bounded."""
    parts = _URL_PARTS.fullmatch(url)
    if parts is None or parts["hostport"] is None:
        # No scheme://host: perhaps a key pasted in the wrong variable.
        return "a value without scheme://host (not shown)"
    scheme = f"{parts['scheme']}:" if parts["scheme"] is not None else ""
    userinfo = "***@" if parts["userinfo"] is not None else ""
    hostport = parts["hostport"]
    host = _HOST_PORT.fullmatch(hostport)
    if host is not None and host["port"] and _PORT.fullmatch(host["port"]) is None:
        hostport = hostport[: host.start("port")] + "***"  # not a port: perhaps a key
    rest = parts["rest"][:1] + "***" if parts["rest"] else ""
    return _shown_value(f"{scheme}//{userinfo}{hostport}{parts['path']}{rest}")


def _shown_value(text: str) -> str:
    """`text` quoted for a one-line message, cut to its first characters if long."""
    if len(text) > _SHOWN_CHARACTERS:
        text = text[:_SHOWN_CHARACTERS] + "..."
    return repr(text)


def _shown_name(name: str) -> str:
    """A variable's name for a one-line message: as it is when short and printable."""
    if len(name) <= _SHOWN_CHARACTERS and name.isprintable():
        return name
    return _shown_value(name)


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parse_priority(text: str, name: str) -> int:
    if _WHOLE_NUMBER.fullmatch(text) is None:
        raise ConfigError(
            f"{name} must be a whole number in digits 0-9 (1 is tried first), "
            f"got {_shown_value(text)}"
        )
    priority = int(text)
    _check_priority(priority, name)
    return priority


def _check_priority(priority: int, what: str) -> None:
    if isinstance(priority, bool) or not isinstance(priority, int) or priority < 1:
        raise ConfigError(
            f"{what} must be a whole number >= 1 (1 is tried first), got {priority!r}"
        )


def _parse_weight(text: str, name: str) -> float:
    if _DECIMAL.fullmatch(text) is None:
        raise ConfigError(
            f"{name} must be a number > 0 in digits 0-9, like 2 or 0.5, got {_shown_value(text)}"
        )
    weight = float(text)
    _check_weight(weight, name)
    return weight


def _check_weight(weight: float, what: str) -> None:
    if (
        isinstance(weight, bool)
        or not isinstance(weight, (int, float))
        or not math.isfinite(weight)
        or weight <= 0
    ):
        raise ConfigError(f"{what} must be a finite number > 0, got {weight!r}")


def _check_api_version(value: str, what: str) -> None:
    if not isinstance(value, str) or _API_VERSION.fullmatch(value) is None:
        got = _shown_value(value) if isinstance(value, str) else repr(value)
        raise ConfigError(
            f"{what} must be an Azure OpenAI api-version like {DEFAULT_API_VERSION} "
            f"or 2025-04-01-preview, got {got}"
        )
