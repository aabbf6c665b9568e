"""`.env.example` documents every variable, and is a valid configuration, as-is and uncommented."""

from __future__ import annotations

import re
from pathlib import Path

from dotenv import dotenv_values

from aoai_fallbacks import load_backends

EXAMPLE = Path(__file__).parents[2] / ".env.example"
VARIABLES = [
    "AOAI_ENDPOINT_01",
    "AOAI_KEY_01",
    "AOAI_DEPLOYMENT",
    "AOAI_DEPLOYMENT_02",
    "AOAI_PRIORITY_02",
    "AOAI_WEIGHT_01",
    "AOAI_LARGE_DEPLOYMENT",
    "AOAI_LARGE_DEPLOYMENT_02",
    "AOAI_API_VERSION",
]


def test_every_variable_is_listed() -> None:
    text = EXAMPLE.read_text()
    for name in VARIABLES:
        assert re.search(rf"^(# )?{name}=", text, re.MULTILINE), name


def test_it_loads_as_is() -> None:
    backends = load_backends({}, dotenv=EXAMPLE)
    assert [(b.name, b.tier) for b in backends] == [("01", "base"), ("02", "base")]


def test_it_loads_with_every_option_uncommented(tmp_path: Path) -> None:
    uncommented = tmp_path / "all.env"
    uncommented.write_text(re.sub(r"^# (AOAI_)", r"\1", EXAMPLE.read_text(), flags=re.MULTILINE))
    assert set(VARIABLES) <= set(dotenv_values(uncommented))
    backends = load_backends({}, dotenv=uncommented)
    assert [(b.name, b.tier, b.priority, b.weight, b.deployment) for b in backends] == [
        ("01", "base", 1, 2.0, "gpt-35-turbo"),
        ("02", "base", 2, 1.0, "gpt-35-turbo-0125"),
        ("01-large", "large", 1, 2.0, "gpt-4-32k"),
        ("02-large", "large", 2, 1.0, "gpt-4-32k"),
        ("01-embeddings", "base", 1, 2.0, "text-embedding-3-small"),
        ("02-embeddings", "base", 2, 1.0, "text-embedding-3-large"),
    ]
