"""`read_environment` and `is_configured`: the sources `load_backends` reads, exposed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aoai_fallbacks.config import is_configured, read_environment


def test_the_environment_wins_over_the_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("AOAI_DEPLOYMENT=from-file\nAOAI_PRIORITY_01=2\n")

    merged = read_environment({"AOAI_DEPLOYMENT": "from-env"}, dotenv=env_file)

    assert merged == {"AOAI_DEPLOYMENT": "from-env", "AOAI_PRIORITY_01": "2"}


def test_an_explicit_mapping_reads_no_env_file_unless_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("AOAI_ENDPOINT_01=https://x.openai.azure.com\n")
    monkeypatch.chdir(tmp_path)

    assert not is_configured({"PATH": "/bin"})
    assert is_configured({"PATH": "/bin"}, dotenv=tmp_path / ".env")


def test_any_aoai_variable_counts_even_a_malformed_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here or above (tmp_path lives outside the checkout)
    for name in [n for n in os.environ if n.startswith("AOAI_")]:
        monkeypatch.delenv(name)

    assert not is_configured()
    monkeypatch.setenv("AOAI_KEY_07", "orphan")
    assert is_configured()
