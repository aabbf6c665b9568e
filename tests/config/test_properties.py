"""`load_backends` on generated environments: backends that send where they say, or one ConfigError.

Every key, password and query string generated here carries a marker that no
message may repeat. Every backend that loads must turn into a request the
HTTP stack accepts, sent to the host and port the endpoint names, with the
deployment as one unchanged path segment.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import h11
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aoai_fallbacks import Backend, ConfigError
from aoai_fallbacks._http import httpx
from aoai_fallbacks._rewrite import rewrite
from aoai_fallbacks.config import load_backends

# Markers of what must never be shown: in keys, in URL userinfo, in query strings and fragments.
SECRETS = ("KEYSECRET", "PWSECRET", "QSECRET")
SDK_URL = "https://placeholder.invalid/openai/deployments/placeholder/chat/completions"

ANY_TEXT = st.text(max_size=12)
ASCII_TEXT = st.text(st.characters(codec="ascii"), max_size=12)
NUMBERS = st.one_of(
    st.sampled_from(["01", "02", "1", "10", "007"]),
    st.sampled_from(["01", "02", "3"]),
    st.text(alphabet="0123456789\u0660\u0661\u0968", min_size=1, max_size=8),
)

HOSTS = st.one_of(
    st.sampled_from(
        ["one.openai.azure.com", "two.openai.azure.com", "127.0.0.1", "localhost", "[::1]"]
    ),
    ASCII_TEXT,
)
PORTS = st.one_of(
    st.just(""),
    st.integers(-2, 140_000).map(lambda port: f":{port}"),
    ASCII_TEXT.map(lambda text: f":{text}"),
)
PATHS = st.one_of(
    st.sampled_from(["", "/", "/gateway", "/openai/", "/..", "/a%2Fb", "/caf\u00e9"]), ASCII_TEXT
)
LIKELY_ENDPOINTS = st.builds(
    lambda host, port, path: f"{'http' if host[0] in '1l[' else 'https'}://{host}{port}{path}",
    st.sampled_from(["one.openai.azure.com", "two.openai.azure.com", "127.0.0.1", "[::1]"]),
    st.one_of(st.just(""), st.integers(0, 140_000).map(lambda port: f":{port}")),
    st.sampled_from(["", "/", "/gateway/"]),
)
ENDPOINTS = st.builds(
    lambda scheme, userinfo, host, port, path, rest: f"{scheme}{userinfo}{host}{port}{path}{rest}",
    st.sampled_from(["https://", "http://", "ftp://", "", "https:"]),
    st.sampled_from(["", "user:PWSECRET@", "PWSECRET@"]),
    HOSTS,
    PORTS,
    PATHS,
    st.sampled_from(["", "?api-key=QSECRET", "#QSECRET", "?"]),
)
KEYS = st.one_of(
    st.from_regex(r"KEYSECRET[0-9a-f]{0,8}", fullmatch=True),
    ANY_TEXT.map(lambda text: f"KEYSECRET{text}"),
)
LIKELY_DEPLOYMENTS = st.sampled_from(["gpt-35-turbo", "gpt-4o", "gpt-4.1", "o1_mini"])
DEPLOYMENTS = st.one_of(
    st.sampled_from([".", "..", "a/b", "g" * 65, "gpt-4o\n", "gpt?x=1"]),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,70}", fullmatch=True),
    ANY_TEXT,
)
NUMBER_TEXT = st.one_of(
    st.integers(-3, 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    ANY_TEXT,
)
API_VERSIONS = st.one_of(st.sampled_from(["2024-10-21", "2025-04-01-preview", "v1"]), ANY_TEXT)


def _numbered(kind: str, values: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[str, str]]:
    return st.tuples(NUMBERS.map(lambda nn: f"AOAI_{kind}_{nn}"), values)


def _backend(nn: str) -> st.SearchStrategy[dict[str, str]]:
    """A backend that mostly loads: its endpoint and usually its key."""
    return st.fixed_dictionaries(
        {f"AOAI_ENDPOINT_{nn}": st.one_of(LIKELY_ENDPOINTS, LIKELY_ENDPOINTS, ENDPOINTS)},
        optional={f"AOAI_KEY_{nn}": KEYS},
    )


# Any variable at all, to spoil the backends with.
VARIABLES = st.one_of(
    _numbered("ENDPOINT", ENDPOINTS),
    _numbered("KEY", KEYS),
    _numbered("DEPLOYMENT", DEPLOYMENTS),
    _numbered("LARGE_DEPLOYMENT", DEPLOYMENTS),
    _numbered("PRIORITY", NUMBER_TEXT),
    _numbered("WEIGHT", NUMBER_TEXT),
    st.tuples(st.sampled_from(["AOAI_DEPLOYMENT", "AOAI_LARGE_DEPLOYMENT"]), DEPLOYMENTS),
    st.tuples(st.just("AOAI_API_VERSION"), API_VERSIONS),
    st.tuples(st.from_regex(r"AOAI_[A-Z0-9_]{1,20}", fullmatch=True), ANY_TEXT),
)


def _environment(
    backends: list[dict[str, str]], deployment: str, spoilers: list[tuple[str, str]]
) -> dict[str, str]:
    """The backends' variables and the shared deployment, then the spoilers over them."""
    environ = {name: value for backend in backends for name, value in backend.items()}
    return {**environ, "AOAI_DEPLOYMENT": deployment, **dict(spoilers)}


ENVIRONMENTS = st.builds(
    _environment,
    st.lists(st.sampled_from(["01", "02", "3"]).flatmap(_backend), min_size=1, max_size=3),
    st.one_of(LIKELY_DEPLOYMENTS, LIKELY_DEPLOYMENTS, DEPLOYMENTS),
    st.one_of(st.just([]), st.lists(VARIABLES, min_size=1, max_size=2)),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ENVIRONMENTS)
def test_a_generated_environment_loads_or_is_one_safe_configuration_error(
    environ: dict[str, str],
) -> None:
    try:
        backends = load_backends(environ)
    except ConfigError as exc:
        message = str(exc)
        assert not [secret for secret in SECRETS if secret in message], message
        assert message.isprintable(), message
        assert len(message) < 500, message
        return
    for backend in backends:
        _assert_sent_where_configured(backend)


def _assert_sent_where_configured(backend: Backend) -> None:
    """The request this backend gets is well-formed, and goes to its host, port and deployment."""
    auth = (
        {"api-key": backend.api_key}
        if backend.api_key is not None
        else {"Authorization": "Bearer token"}
    )
    request = httpx.Request("POST", f"{SDK_URL}?api-version=1", content=b"{}")
    request.read()
    sent = rewrite(request, backend, auth)

    written = urlsplit(backend.endpoint)  # another parser than the one that sends
    default = 443 if written.scheme == "https" else 80
    assert sent.url.host == (written.hostname or "").lower()
    assert (sent.url.port or default) == (written.port or default)
    assert 1 <= (sent.url.port or default) <= 65535
    segments = sent.url.raw_path.decode("ascii").split("?")[0].split("/")
    assert segments[-4:] == ["deployments", backend.deployment, "chat", "completions"]
    # What the HTTP/1.1 stack checks before sending: it raised with the key in its message.
    h11.Request(method="POST", target=sent.url.raw_path, headers=list(sent.headers.raw))
