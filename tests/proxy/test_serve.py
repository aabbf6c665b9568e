"""`aoai-fallbacks serve` as operators run it: a process, its workers, its shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import openai
import pytest

from aoai_fallbacks._cli import main
from aoai_fallbacks._cli.bench.redis_server import free_port
from aoai_fallbacks.balancer import Balancer
from aoai_fallbacks.emulator import DeploymentConfig, Emulator, run_emulator
from aoai_fallbacks.redis_store import RedisStore
from aoai_fallbacks.transport import BACKEND_HEADER
from core._support import throttled
from transport._support import backends_of

from ._support import API_VERSION, CHAT, KEY, MESSAGES

pytestmark = pytest.mark.integration

CLASSIC = f"/openai/deployments/{CHAT}/chat/completions?api-version={API_VERSION}"
STARTUP = 30.0  # seconds a busy machine may take to start the proxy and its workers


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with run_emulator(resources=2, deployments=[DeploymentConfig(CHAT, tpm=1_000_000)]) as emu:
        yield emu


def environment(emulator: Emulator, **more: str) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith("AOAI_")}
    return {**kept, **emulator.env(), "AOAI_PROXY_KEYS": KEY, **more}


@contextmanager
def serve(
    env: Mapping[str, str], cwd: Path, *arguments: str
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`aoai-fallbacks serve` in a process of its own, ready; stopped (SIGTERM) at the end."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "aoai_fallbacks", "serve", "--port", str(port), *arguments],
        env=dict(env),
        cwd=cwd,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP
        while True:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "the proxy did not start"
            time.sleep(0.05)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=STARTUP)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def ask(url: str) -> httpx.Response:
    # A new connection each time, so the kernel spreads them over the workers.
    with httpx.Client(
        headers={"api-key": KEY}, limits=httpx.Limits(max_keepalive_connections=0)
    ) as client:
        return client.post(url + CLASSIC, json={"messages": MESSAGES, "max_tokens": 5})


def test_serving_on_a_public_address_without_keys_is_refused(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in emulator.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AOAI_PROXY_KEYS", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--port", str(free_port())]) == 2
    assert "AOAI_PROXY_KEYS is not set" in capsys.readouterr().err


def test_a_backend_key_as_a_proxy_key_is_refused_before_serving(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in emulator.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AOAI_PROXY_KEYS", emulator.resources[0].key)
    assert main(["serve", "--port", str(free_port())]) == 2
    error = capsys.readouterr().err
    assert "AOAI_PROXY_KEYS holds the key of backend 01" in error
    assert emulator.resources[0].key not in error


def test_a_missing_env_file_or_a_bad_setting_is_one_clear_line(
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    assert main(["serve", "--env-file", str(tmp_path / "nowhere.env")]) == 2
    assert "nowhere.env does not exist" in capsys.readouterr().err
    env_file = tmp_path / "proxy.env"
    lines = [f"{k}={v}" for k, v in emulator.env().items()] + [
        "AOAI_PROXY_KEY=typo-typo-typo-typo"
    ]
    env_file.write_text("\n".join(lines))
    monkeypatch.chdir(tmp_path)
    assert main(["serve", "--env-file", str(env_file)]) == 2
    error = capsys.readouterr().err
    assert "did you mean AOAI_PROXY_KEYS?" in error
    assert "typo-typo" not in error
    assert "AOAI_ENDPOINT_01" not in os.environ  # nothing handed on from a bad configuration


def test_the_env_file_replaces_dot_env_for_every_worker(
    emulator: Emulator, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(
        f"AOAI_ENDPOINT_03={emulator.resources[0].endpoint}\nAOAI_KEY_03=another-key-1234567890\n"
    )
    env_file = tmp_path / "proxy.env"
    env_file.write_text(
        "\n".join(f"{k}={v}" for k, v in environment(emulator).items() if k.startswith("AOAI_"))
    )
    bare = {k: v for k, v in os.environ.items() if not k.startswith("AOAI_")}
    with serve(bare, tmp_path, "--env-file", str(env_file)) as (url, _):
        for _ in range(6):
            status = httpx.get(f"{url}/status", headers={"api-key": KEY}).json()
            assert [b["name"] for b in status["backends"]] == ["01", "02"]


def test_shutdown_lets_a_request_in_flight_finish(emulator: Emulator, tmp_path: Path) -> None:
    for resource in emulator.resources:
        resource.set_faults(CHAT, ttft=1.0)
    with serve(environment(emulator), tmp_path, "--grace", "20") as (url, process):
        answer: list[httpx.Response] = []

        def stream() -> None:
            with httpx.stream(
                "POST",
                url + CLASSIC,
                json={"messages": MESSAGES, "stream": True},
                headers={"api-key": KEY},
                timeout=30,
            ) as response:
                response.read()
                answer.append(response)

        client = threading.Thread(target=stream)
        client.start()
        deadline = time.monotonic() + STARTUP
        while emulator.stats(CHAT).requests == 0:
            assert time.monotonic() < deadline, "the request never reached a backend"
            time.sleep(0.01)
        process.send_signal(signal.SIGTERM)
        client.join(STARTUP)
        assert process.wait(STARTUP) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal
    (response,) = answer
    assert response.status_code == 200
    assert response.text.rstrip().endswith("data: [DONE]")


def test_workers_share_what_they_learn_through_redis(
    emulator: Emulator, redis_url: str, tmp_path: Path
) -> None:
    # Another process has learned that 01 is throttled for a minute.
    store = RedisStore(redis_url)
    elsewhere = Balancer(backends_of(emulator), store=store)
    elsewhere.record(elsewhere.backends[0], throttled(retry_after_ms="60000"))
    store.close()  # sends what it has queued first
    env = environment(emulator, AOAI_REDIS_URL=redis_url)
    with serve(env, tmp_path, "--workers", "2") as (url, _):
        for _ in range(12):
            response = ask(url)
            assert response.status_code == 200
            assert response.headers[BACKEND_HEADER] == "02"
        # A stored response made through one worker is found through every other.
        workers = set()
        with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0)) as fresh:
            v1 = openai.OpenAI(
                base_url=f"{url}/openai/v1/", api_key=KEY, http_client=fresh, max_retries=0
            )
            made = v1.responses.create(model=CHAT, input="Hello")
            for _ in range(20):
                assert v1.responses.retrieve(made.id).id == made.id
                status = fresh.get(f"{url}/status", headers={"api-key": KEY}).json()
                assert status["store"] == {"kind": "RedisStore", "up": True}
                workers.add(status["process"])
        assert len(workers) == 2
    assert emulator.resources[0].stats(CHAT).requests == 0
