"""`aoai-fallbacks emulate`: every flag documented, endpoints and a .env block printed, served."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import openai
import pytest

from aoai_fallbacks._cli import build_parser, main
from aoai_fallbacks.emulator import DeploymentConfig
from aoai_fallbacks.emulator._cli import deployments

from ._support import API_VERSION, HELLO

FLAGS = [
    "--resources",
    "--deployment",
    "--embedding-deployment",
    "--tpm",
    "--rpm",
    "--port",
    "--key",
    "--context-window",
    "--seed",
    "--duration",
    "--retry-after",
    "--reset-headers",
    "--remaining-headers",
    "--request-window",
    "--neighbour",
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


@contextmanager
def emulate(*flags: str) -> Iterator[list[str]]:
    """`aoai-fallbacks emulate` in its own process: its banner up to "Serving", while it serves."""
    process = subprocess.Popen(
        [sys.executable, "-m", "aoai_fallbacks", "emulate", *flags, "--duration", "30"],
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
        yield lines
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_emulate_prints_endpoints_and_env_and_serves() -> None:
    with emulate(
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
    ) as lines:
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


def test_dialect_flags_apply_to_every_deployment() -> None:
    args = build_parser().parse_args(
        [
            "emulate",
            "--deployment",
            "a",
            "--deployment",
            "b",
            "--retry-after",
            "seconds",
            "--reset-headers",
            "--remaining-headers",
            "unknown",
            "--request-window",
            "1",
            "--neighbour",
            "0.25",
        ]
    )
    defaults = build_parser().parse_args(["emulate"])

    assert deployments(args) == [
        DeploymentConfig(
            name,
            retry_after="seconds",
            reset_headers=True,
            remaining_headers="unknown",
            request_window=1.0,
            neighbour=0.25,
        )
        for name in ("a", "b")
    ]
    assert deployments(defaults) == [DeploymentConfig("gpt-35-turbo")]


def test_emulate_speaks_the_dialect_its_flags_choose() -> None:
    with emulate(
        "--rpm",
        "60",
        "--request-window",
        "1",
        "--retry-after",
        "seconds",
        "--reset-headers",
        "--remaining-headers",
        "unknown",
        "--neighbour",
        "0.5",
        "--key",
        "local-key",
    ) as lines:
        endpoint = next(line.split("=", 1)[1] for line in lines if line.startswith("AOAI_END"))
        with httpx.Client(base_url=endpoint, headers={"api-key": "local-key"}) as http:
            # One request a second: of three sent at once, at least one is refused.
            answers = [
                http.post(
                    "/openai/deployments/gpt-35-turbo/chat/completions",
                    params={"api-version": API_VERSION},
                    json={"messages": HELLO, "max_tokens": 5},
                )
                for _ in range(3)
            ]
            stats = http.get("/emulator/deployments/gpt-35-turbo/stats").json()

    assert lines[1] == (
        "Dialect: retry-after seconds, remaining unknown, 1 s request window, reset headers, "
        "a neighbour spends 50%"
    )
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert refused.headers["retry-after"] == "1"
    assert "retry-after-ms" not in refused.headers
    assert refused.headers["x-ratelimit-remaining-requests"] == "-1"
    assert re.fullmatch(r"[0-9]{1,3}ms|1s", refused.headers["x-ratelimit-reset-requests"])
    assert refused.headers["x-ratelimit-reset-tokens"] == "0s"
    assert stats["requests"] == 3
    assert {"neighbour_served", "neighbour_throttled"} <= set(stats)


@pytest.mark.parametrize(
    "flags",
    [
        ["--retry-after", "sometimes"],
        ["--remaining-headers", "zero"],
        ["--request-window", "5"],
        ["--neighbour", "1"],
        ["--neighbour", "-0.5"],
    ],
)
def test_bad_dialect_values_are_refused(
    flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["emulate", *flags])
    assert exited.value.code == 2
    assert flags[0] in capsys.readouterr().err
