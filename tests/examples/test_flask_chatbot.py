"""`examples/flask_chatbot.py` against the emulator, through Flask's test client.

Three resources in priority order 01, 02, 03, each admitting one request per
10 s (on a fake clock that never moves on its own): the first query is served
by 01, the second finds 01 throttled and is switched to 02 (and the log says
so, like the seed's chatbot), the third goes to 03, and the fourth finds every
backend throttled and gets a 503 with Retry-After.
"""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from aoai_fallbacks import Balancer, balanced_chat_model, load_backends
from aoai_fallbacks._cli.bench.redis_server import free_port
from aoai_fallbacks.emulator import DeploymentConfig, Emulator, run_emulator
from aoai_fallbacks.testing import FakeClock

from ._support import EXAMPLES, load_example

pytestmark = pytest.mark.integration

EXAMPLE = EXAMPLES / "flask_chatbot.py"
DEPLOYMENT = "gpt-35-turbo"


@pytest.fixture
def emulator() -> Iterator[tuple[Emulator, FakeClock]]:
    clock = FakeClock()
    # Reporting no remaining quota, as some gateways do: the balancer learns each window
    # from its 429s, and switches on them the way the seed's chatbot did.
    one_per_window = DeploymentConfig(DEPLOYMENT, tpm=10_000, rpm=6, remaining_headers="off")
    with run_emulator(resources=3, deployments=[one_per_window], clock=clock) as emu:
        yield emu, clock


@pytest.fixture
def client(emulator: tuple[Emulator, FakeClock]) -> FlaskClient:
    emu, clock = emulator
    variables = emu.env(deployment=DEPLOYMENT)
    variables.update(AOAI_PRIORITY_02="2", AOAI_PRIORITY_03="3")
    balancer = Balancer(
        load_backends(variables, dotenv=False), wait_budget=0, clock=clock, rng=random.Random(0)
    )
    model = balanced_chat_model(balancer=balancer, include_response_headers=True, max_tokens=20)
    app = load_example(EXAMPLE).create_app(model)
    app.testing = True
    return app.test_client()


def ask(client: FlaskClient, query: str = "testing") -> tuple[int, Any, dict[str, str]]:
    response = client.get("/", query_string={"query": query})
    return response.status_code, response.get_json(), dict(response.headers)


def test_answers_and_names_the_backend(
    client: FlaskClient, emulator: tuple[Emulator, FakeClock]
) -> None:
    status, body, _ = ask(client, "Tell me a dad joke")

    assert status == 200
    assert body["backend"] == "01"
    assert isinstance(body["answer"], str)
    assert body["answer"]
    assert emulator[0].resources[0].stats(DEPLOYMENT).served == 1


def test_throttled_backend_is_skipped_and_the_switch_logged(
    client: FlaskClient, emulator: tuple[Emulator, FakeClock], caplog: pytest.LogCaptureFixture
) -> None:
    emu, _ = emulator
    caplog.set_level(logging.INFO, logger="aoai_fallbacks")

    served_by = [ask(client)[1]["backend"] for _ in range(3)]

    assert served_by == ["01", "02", "03"]
    switches = [r.getMessage() for r in caplog.records if "switching to" in r.getMessage()]
    assert len(switches) == 2
    assert "backend 01 (gpt-35-turbo) throttled" in switches[0]
    assert switches[0].endswith("switching to backend 02 (gpt-35-turbo)")
    # 01 was asked once more and refused; the balancer then kept away from it.
    assert emu.resources[0].stats(DEPLOYMENT).throttled == 1
    assert emu.resources[1].stats(DEPLOYMENT).throttled == 1


def test_every_backend_throttled_is_a_503_with_retry_after(client: FlaskClient) -> None:
    for _ in range(3):
        assert ask(client)[0] == 200

    status, body, headers = ask(client)

    assert status == 503
    assert 1 <= int(headers["Retry-After"]) <= 11  # a 10 s window, and a hair for the wire
    assert body["retry_after"] == headers["Retry-After"]


def test_a_query_is_required(client: FlaskClient, emulator: tuple[Emulator, FakeClock]) -> None:
    status, body, _ = ask(client, "  ")

    assert status == 400
    assert "query" in body["error"]
    assert emulator[0].stats(DEPLOYMENT).requests == 0


def test_default_model_reads_the_environment(
    emulator: tuple[Emulator, FakeClock], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in emulator[0].env(deployment=DEPLOYMENT).items():
        monkeypatch.setenv(name, value)

    client = load_example(EXAMPLE).create_app().test_client()
    status, body, _ = ask(client)

    assert status == 200
    assert body["backend"] in {"01", "02", "03"}


def test_runs_as_written_on_the_builtin_emulator(tmp_path: Path) -> None:
    """`python examples/flask_chatbot.py` with nothing configured serves from the emulator."""
    for _ in range(PORT_TRIES):
        body, output = _run_example(tmp_path, free_port())
        if body is not None or "Address already in use" not in output:
            break
    assert body is not None, f"the example exited early:\n{output}"
    assert body["backend"] in {"01", "02", "03"}
    assert body["answer"]
    assert "serving from the built-in emulator" in output
    assert '"GET /?query=testing HTTP/1.1" 200' in output


PORT_TRIES = 3
"""Starts of the example: the port a test picks is free when picked, but on a busy machine
another socket (the example's own emulator binds three) may take it before Flask does."""


def _run_example(tmp_path: Path, port: int) -> tuple[Any, str]:
    """The example's first answer on `port` (None if it exited first), and all it printed."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AOAI_")}
    environ.update(PORT=str(port), PYTHONUNBUFFERED="1")  # its output must survive terminate()
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLE)],
        cwd=tmp_path,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        body = _get_when_up(f"http://127.0.0.1:{port}/?query=testing", process)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    return body, output


def _get_when_up(url: str, process: subprocess.Popen[str]) -> Any:
    """The first answer from the example's server, polling until it listens; None if it died."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return None
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.load(response)
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    pytest.fail("the example never answered")


def test_a_broken_configuration_is_one_line(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AOAI_")}
    (tmp_path / ".env").write_text("AOAI_KEY_03=a-key-without-an-endpoint\n")

    done = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2
    assert done.stderr.startswith("configuration error: ")
    assert "AOAI_ENDPOINT_03" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "a-key-without-an-endpoint" not in done.stderr
