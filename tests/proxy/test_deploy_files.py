"""The deploy files (Dockerfile, .dockerignore, compose.yaml) and the proxy's docs stay true.

Docker is not needed: the files are read as Docker reads them, and what they
run is checked against the real command line, configuration and proxy. A
command the CLI no longer accepts, a variable the configuration does not
know, an image that would run as root or leave the proxy extra out, or a
healthcheck that cannot fail, each fails here rather than in someone's
deployment.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import yaml
from dotenv import dotenv_values

from aoai_fallbacks import Backend, Balancer, ConfigError, load_backends
from aoai_fallbacks._cli import build_parser
from aoai_fallbacks.config import _PER_BACKEND, _SHARED, load_redis_url
from aoai_fallbacks.proxy import Proxy, load_proxy_settings

ROOT = Path(__file__).parents[2]
DOCUMENTS = ("README.md", "compose.yaml", ".env.example", "Dockerfile")
MISSPELT_ON_PURPOSE = {"AOAI_ENDPIONT_03"}
"""The README's example of a misspelt variable, which the configuration must refuse."""
_VARIABLE = re.compile(r"\bAOAI_(?:[A-Z0-9]+_)*(?:[A-Z0-9]+|nn)\b")


# -- reading the files as Docker does -----------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order: comments dropped, continuation lines joined."""
    logical: list[str] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line.strip())
        pending = ""
    assert not pending, "the Dockerfile ends in a continuation line"
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in logical]


def instructions(name: str) -> list[str]:
    return [arguments for instruction, arguments in dockerfile() if instruction == name]


def exec_form(arguments: str) -> list[str]:
    """A CMD or HEALTHCHECK CMD in exec (JSON) form: shell form would not get SIGTERM."""
    argv = json.loads(arguments)
    assert isinstance(argv, list), arguments
    assert all(isinstance(arg, str) for arg in argv), arguments
    return argv


def cmd() -> list[str]:
    (only,) = instructions("CMD")
    return exec_form(only)


def healthcheck() -> list[str]:
    (only,) = instructions("HEALTHCHECK")
    _, _, command = only.partition(" CMD ")
    return exec_form(command)


def dockerignore_excludes(path: str) -> bool:
    """Whether Docker leaves `path` out of the build context: the last matching pattern wins,
    and a pattern matching a parent directory matches everything under it."""
    excluded = False
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = re.compile(_glob_regex(pattern))
        parts = path.split("/")
        if any(regex.fullmatch("/".join(parts[:end])) for end in range(1, len(parts) + 1)):
            excluded = not negated
    return excluded


def _glob_regex(pattern: str) -> str:
    out = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out += "(?:.*/)?"
            index += 3
        elif pattern.startswith("**", index):
            out += ".*"
            index += 2
        else:
            char = pattern[index]
            out += {"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char))
            index += 1
    return out


def compose() -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(document, dict)
    services = document["services"]
    assert isinstance(services, dict)
    return services


def serve_args(argv: list[str]) -> Any:
    """`argv` as `aoai-fallbacks` parses it; fails (SystemExit) on an option it does not know."""
    assert argv[0] == "aoai-fallbacks", argv
    args = build_parser().parse_args(argv[1:])
    assert args.command == "serve", argv
    return args


# -- the Dockerfile ------------------------------------------------------------------------------


def test_the_image_is_slim_python_with_the_proxy_extra_and_no_dev_tools() -> None:
    (base,) = instructions("FROM")
    assert base == "python:3.11-slim"
    installs = [run for run in instructions("RUN") if "pip install" in run]
    assert len(installs) == 1, installs
    (install,) = installs
    assert "--no-cache-dir" in install.split()
    assert re.search(r"\[(?:[a-z,]*,)?proxy(?:,[a-z,]*)?\]", install), install
    assert not re.search(r"--group|\[(?:[a-z,]*,)?(?:all|dev|bench)\b|pytest|ruff|mypy", install)


def test_the_image_is_built_from_files_the_build_context_holds() -> None:
    sources = [
        part for copy in instructions("COPY") for part in shlex.split(copy)[:-1] if part[0] != "-"
    ]
    assert sources, "nothing is copied into the image"
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not dockerignore_excludes(source), f".dockerignore leaves {source} out"
    assert not dockerignore_excludes("src/aoai_fallbacks/proxy.py")


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/HEAD",
        ".env",
        "tests/conftest.py",
        ".pytest_cache/README.md",
        ".mypy_cache/3.11/x.json",
        "src/aoai_fallbacks/__pycache__/proxy.cpython-311.pyc",
    ],
)
def test_dockerignore_keeps_the_rest_out(path: str) -> None:
    assert dockerignore_excludes(path), path


def test_the_container_runs_as_a_user_that_is_not_root() -> None:
    order = [instruction for instruction, _ in dockerfile()]
    users = instructions("USER")
    assert users, "no USER: the proxy would run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, users[-1]
    assert user.isdigit(), "a numeric USER lets Kubernetes' runAsNonRoot check it"
    last_user = len(order) - 1 - order[::-1].index("USER")
    assert last_user < order.index("CMD")
    assert all(i < last_user for i, each in enumerate(order) if each == "RUN"), (
        "RUN after USER: the install would run as the user, without rights on site-packages"
    )


def test_cmd_is_serve_on_every_address_at_the_exposed_port() -> None:
    args = serve_args(cmd())
    assert args.host == "0.0.0.0"
    assert instructions("EXPOSE") == [str(args.port)]


def test_the_healthcheck_asks_the_proxy_it_runs_for_healthz() -> None:
    argv = healthcheck()
    assert argv[:2] == ["python", "-c"], "slim images have no curl"
    (url,) = re.findall(r"http://[^'\"]+", argv[2])
    parsed = httpx.URL(url)
    assert parsed.host == "127.0.0.1"
    assert parsed.port == serve_args(cmd()).port
    assert parsed.path == "/healthz"
    assert _proxy_answers(parsed.path) == (200, {"status": "alive"})


def _proxy_answers(path: str) -> tuple[int, Any]:
    """What a real `Proxy` answers to GET `path`, through httpx's ASGI transport."""
    backend = Backend(
        name="01",
        endpoint="https://example-resource.openai.azure.com",
        deployment="gpt-35-turbo",
        api_key="backend-key-0123456789abcdef",
    )

    async def ask() -> tuple[int, Any]:
        proxy = Proxy(Balancer([backend], store=None))
        transport = httpx.ASGITransport(app=proxy)
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
            response = await client.get(path)
        await proxy.aclose()
        return response.status_code, response.json()

    return anyio.run(ask)


@pytest.fixture
def health_server() -> Iterator[tuple[int, list[int]]]:
    """A server whose /healthz answers the next status in its list: (port, statuses)."""
    statuses: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(statuses.pop(0) if self.path == "/healthz" else 404)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], statuses
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_healthcheck_fails_unless_healthz_answers_2xx(
    health_server: tuple[int, list[int]],
) -> None:
    port, statuses = health_server
    _, _, code = healthcheck()
    code = code.replace(f":{serve_args(cmd()).port}/", f":{port}/")
    statuses += [200, 503]
    assert _exit_status(code) == 0
    assert _exit_status(code) != 0
    assert statuses == []


def _exit_status(code: str) -> int:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30).returncode


# -- compose.yaml ----------------------------------------------------------------------------------


def test_compose_runs_the_image_with_two_workers_sharing_redis() -> None:
    services = compose()
    proxy, redis = services["proxy"], services["redis"]
    assert proxy["build"] == "."
    assert proxy["env_file"] in (".env", [".env"])
    url = proxy["environment"]["AOAI_REDIS_URL"]
    assert load_redis_url({"AOAI_REDIS_URL": url}, dotenv=False) == url
    assert url.startswith("redis://redis:")
    assert str(redis["image"]).startswith("redis:7-alpine")
    args = serve_args(proxy["command"])
    assert args.workers == 2
    assert args.host == "0.0.0.0"
    assert f"8080:{args.port}" in proxy["ports"]
    assert "redis" in proxy["depends_on"]


def test_compose_gives_requests_in_flight_their_grace() -> None:
    proxy = compose()["proxy"]
    grace = serve_args(proxy["command"]).grace
    period = re.fullmatch(r"(\d+)s", proxy["stop_grace_period"])
    assert period is not None, proxy["stop_grace_period"]
    assert int(period[1]) > grace, "docker would kill the proxy before --grace ends"


# -- the variables and commands the docs show ----------------------------------------------------


def documented_variables() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for name in DOCUMENTS:
        for variable in _VARIABLE.findall((ROOT / name).read_text()):
            found.setdefault(variable, set()).add(name)
    return found


def is_known(variable: str) -> bool:
    if variable in _SHARED:
        return True
    kind, _, number = variable.removeprefix("AOAI_").rpartition("_")
    return kind in _PER_BACKEND and (number == "nn" or number.isdigit())


def test_every_variable_the_docs_mention_is_one_the_configuration_knows() -> None:
    unknown = {
        variable: sorted(files)
        for variable, files in documented_variables().items()
        if not is_known(variable) and variable not in MISSPELT_ON_PURPOSE
    }
    assert unknown == {}


def test_the_misspelt_example_is_refused() -> None:
    for variable in MISSPELT_ON_PURPOSE:
        assert variable in documented_variables()
        environment = {"AOAI_ENDPOINT_03": "https://x.openai.azure.com", variable: "y"}
        with pytest.raises(ConfigError, match=variable):
            load_backends(environment, dotenv=False)


def test_every_shared_variable_is_in_the_configuration_table_and_env_example() -> None:
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / ".env.example").read_text()
    for variable in _SHARED:
        assert re.search(rf"^\| `{variable}`", readme, re.MULTILINE), variable
        assert re.search(rf"^(# )?{variable}=", example, re.MULTILINE), variable


def test_the_env_example_uncommented_is_a_valid_proxy_configuration(tmp_path: Path) -> None:
    uncommented = tmp_path / "all.env"
    text = (ROOT / ".env.example").read_text()
    uncommented.write_text(re.sub(r"^# (AOAI_)", r"\1", text, flags=re.MULTILINE))
    assert {"AOAI_PROXY_KEYS", "AOAI_PROXY_ALIASES", "AOAI_PROXY_MAX_BODY"} <= set(
        dotenv_values(uncommented)
    )
    settings = load_proxy_settings({}, dotenv=uncommented)
    assert len(settings.keys) == 2
    assert settings.aliases
    Proxy(Balancer(load_backends({}, dotenv=uncommented), store=None), settings)


def test_every_serve_command_in_the_readme_parses() -> None:
    commands = [
        line.partition("#")[0]
        for line in (ROOT / "README.md").read_text().splitlines()
        if line.startswith("aoai-fallbacks serve")
    ]
    assert commands, "the README shows no aoai-fallbacks serve command"
    for command in commands:
        serve_args(shlex.split(command))
