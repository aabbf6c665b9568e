"""What installing the package brings: every library it imports, no development tool, floors.

The floors themselves are proved by ``scripts/test-floors`` (the core and
transport tests on exactly those versions, in CI); these tests check the
declarations it reads.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "src" / "aoai_fallbacks"
DEVELOPMENT_TOOLS = {"pytest", "ruff", "mypy", "flask", "ipykernel"}
SDK_FLAVOUR = {"httpx", "httpx2"}
"""Imported as whichever the installed openai depends on (`aoai_fallbacks._http`): declaring
either would be wrong for the other openai major version."""

KNOWN_BROKEN = {"openai": "2.30.0", "langchain-core": "1.2.10", "langchain-openai": "1.1.8"}
"""The newest version of each that fails (pyproject.toml says how): a floor must be above it."""


def _load_floors_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("floors", ROOT / "scripts" / "floors.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_FLOORS = _load_floors_script()
floors = _FLOORS.floors
PROJECT = _FLOORS.tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(extra: str | None = None) -> set[str]:
    """The distributions that installing the package (with `extra`) asks for by name.

    Read from pyproject.toml, the source every install is built from.
    """
    lines = PROJECT["dependencies"] if extra is None else PROJECT["optional-dependencies"][extra]
    names = set()
    for requirement in map(Requirement, lines):
        if normalized(requirement.name) == normalized(PROJECT["name"]):
            for included in requirement.extras:
                names |= requirements(included)
        else:
            names.add(normalized(requirement.name))
    return names


def imported_libraries() -> set[str]:
    """The top-level modules outside the standard library that the package's code imports."""
    names: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.partition(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.partition(".")[0])
    return names - set(sys.stdlib_module_names) - {"aoai_fallbacks", "__future__"}


def test_every_library_the_code_imports_is_declared() -> None:
    declared = requirements() | requirements("all")
    providers = importlib.metadata.packages_distributions()
    undeclared = {
        module
        for module in imported_libraries() - SDK_FLAVOUR
        if not {normalized(d) for d in providers.get(module, [module])} & declared
    }
    assert undeclared == set()


def test_the_all_extra_brings_no_development_tool() -> None:
    assert requirements("all") & DEVELOPMENT_TOOLS == set()
    extras = ("server", "entra", "bench", "redis", "otel", "proxy")
    assert requirements("all") == set().union(*(requirements(extra) for extra in extras))


def test_the_floors_pin_every_declared_requirement() -> None:
    pins = dict(pin.split("==") for pin in floors(["server"]))
    assert set(pins) == requirements() | requirements("server")


def test_no_floor_admits_a_version_known_to_break() -> None:
    pins = dict(pin.split("==") for pin in floors([]))
    too_low = {
        n: pins[n] for n, broken in KNOWN_BROKEN.items() if Version(pins[n]) <= Version(broken)
    }
    assert too_low == {}


def test_a_requirement_without_a_floor_is_refused(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "p"\ndependencies = ["a>=1.2, <3", "b[x] >= 2 ; python_version < \'4\'"]\n'
        '[project.optional-dependencies]\nx = ["c>=3"]\nall = ["p[x]", "d>=4"]\n'
        'bare = ["e"]\n'
    )
    assert floors(["all"], pyproject) == [
        "a==1.2",
        "b==2; python_version < '4'",
        "d==4",
        "c==3",
    ]
    with pytest.raises(SystemExit, match="'e' declares no floor"):
        floors(["bare"], pyproject)
    with pytest.raises(SystemExit, match="no extra named 'nope'"):
        floors(["nope"], pyproject)
