"""`aoai-fallbacks emulate`: every flag documented, endpoints and a .env block printed, served."""

from __future__ import annotations

import subprocess
import sys

import openai
import pytest

from aoai_fallbacks.cli import main

from ._support import API_VERSION, HELLO

FLAGS = [
    "--resources",
    "--deployment",
    "--tpm",
    "--rpm",
    "--port",
    "--key",
    "--context-window",
    "--seed",
    "--duration",
    "--latency",
    "--ttft",
    "--error-rate",
    "--error-status",
    "--hang",
    "--drop-after-chunks",
    "--omit-retry-after",
    "--outage",
    "--faulty",
]


def test_help_documents_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["emulate", "--help"])
    out = capsys.readouterr().out

    assert exited.value.code == 0
    for flag in FLAGS:
        assert flag in out
    assert "aoai-fallbacks emulate --resources 3" in out


def test_emulate_prints_endpoints_and_env_and_serves() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aoai_fallbacks.cli",
            "emulate",
            "--resources",
            "2",
            "--deployment",
            "gpt-35-turbo",
            "--deployment",
            "gpt-4",
            "--tpm",
            "1000",
            "--key",
            "local-key",
            "--outage",
            "--faulty",
            "02",
            "--duration",
            "30",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Serving"):
                break
        env = dict(line.split("=", 1) for line in lines if line.startswith("AOAI_"))

        assert set(env) == {
            "AOAI_ENDPOINT_01",
            "AOAI_KEY_01",
            "AOAI_ENDPOINT_02",
            "AOAI_KEY_02",
            "AOAI_DEPLOYMENT",
        }
        assert env["AOAI_KEY_01"] == "local-key"
        assert env["AOAI_DEPLOYMENT"] == "gpt-35-turbo"
        assert "1000 TPM, 6 RPM" in lines[0]

        def sdk(nn: str) -> openai.AzureOpenAI:
            return openai.AzureOpenAI(
                azure_endpoint=env[f"AOAI_ENDPOINT_{nn}"],
                api_key=env[f"AOAI_KEY_{nn}"],
                api_version=API_VERSION,
                max_retries=0,
            )

        assert sdk("01").chat.completions.create(model="gpt-4", messages=HELLO).choices
        with pytest.raises(openai.InternalServerError):
            sdk("02").chat.completions.create(model="gpt-4", messages=HELLO)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_emulate_runs_for_its_duration_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["emulate", "--duration", "0", "--key", "k"])
    out = capsys.readouterr().out

    assert code == 0
    assert "AOAI_ENDPOINT_01=http://127.0.0.1:" in out
    assert "AOAI_KEY_01=k" in out


def test_a_busy_port_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["emulate", "--port", str(port), "--duration", "0"])
    err = capsys.readouterr().err

    assert code == 2
    assert err.startswith("emulate: ")
    assert len(err.strip().splitlines()) == 1


def test_bad_flag_values_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["emulate", "--error-rate", "2"])
    assert exited.value.code == 2
    assert "--error-rate" in capsys.readouterr().err
