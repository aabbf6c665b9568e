"""`examples/joke_chain.py`: runs on a fresh machine (the emulator), and on a real configuration."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from aoai_fallbacks.emulator import DeploymentConfig, run_emulator

from ._support import EXAMPLES, load_example, run_unconfigured

pytestmark = pytest.mark.integration

EXAMPLE = EXAMPLES / "joke_chain.py"
ON_THE_EMULATOR = "telling jokes from the built-in Azure OpenAI emulator"


@pytest.fixture
def unconfigured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No AOAI_* in the environment, and no .env in the working directory or above."""
    for name in [n for n in os.environ if n.startswith("AOAI_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def _jokes(output: str) -> list[str]:
    return re.findall(r"^\d+\. (.+)$", output, re.MULTILINE)


@pytest.mark.usefixtures("unconfigured")
def test_with_nothing_configured_it_says_so_and_uses_the_emulator(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert load_example(EXAMPLE).main([]) == 0
    out = capsys.readouterr().out
    assert ON_THE_EMULATOR in out
    assert len(_jokes(out)) == 9
    assert all(_jokes(out))
    served = [int(n) for n in re.findall(r"^resource \d+: served (\d+)", out, re.MULTILINE)]
    assert len(served) == 3
    assert sum(served) == 9


@pytest.mark.usefixtures("unconfigured")
def test_with_a_configuration_it_uses_the_configured_backends(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with run_emulator(2, [DeploymentConfig("my-deployment")]) as emu:
        for name, value in emu.env().items():
            monkeypatch.setenv(name, value)
        assert load_example(EXAMPLE).main(["--jokes", "2"]) == 0
        served = emu.stats("my-deployment").served
    out = capsys.readouterr().out
    assert ON_THE_EMULATOR not in out
    assert len(_jokes(out)) == 2
    assert served == 2


@pytest.mark.usefixtures("unconfigured")
def test_a_broken_configuration_is_reported_not_replaced(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AOAI_KEY_01", "a-key-without-its-endpoint")
    assert load_example(EXAMPLE).main([]) == 2
    captured = capsys.readouterr()
    assert "AOAI_ENDPOINT_01" in captured.err
    assert "a-key-without-its-endpoint" not in captured.err
    assert ON_THE_EMULATOR not in captured.out


def test_it_runs_as_a_script_in_a_clean_environment(tmp_path: Path) -> None:
    done = run_unconfigured(EXAMPLE, "--jokes", "4", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert ON_THE_EMULATOR in done.stdout
    assert len(_jokes(done.stdout)) == 4
