"""Print the declared dependency floors as exact pins (``name==version``), for pip's -c.

Reads ``[project].dependencies`` and the extras named as arguments (with the
extras they include) from pyproject.toml. Every requirement must declare a
floor (``>=``): one without could be met by any old version, which nobody
has tested. Usage: python3 scripts/floors.py [EXTRA...]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pip's own copy of the same parser
    from pip._vendor import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
_REQUIREMENT = re.compile(
    r"\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[(?P<extras>[^\]]*)\])?"
    r"\s*(?P<specs>[^;]*)(?P<marker>;.*)?"
)


def floors(extras: list[str], pyproject: Path = PYPROJECT) -> list[str]:
    """The pins, one per requirement of the project and of `extras`, in declared order."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    pins: list[str] = []
    _pin(project["dependencies"], project, pins, pyproject)
    done: set[str] = set()
    todo = list(extras)
    while todo:
        extra = todo.pop(0)
        if extra in done:
            continue
        done.add(extra)
        requirements = project.get("optional-dependencies", {}).get(extra)
        if requirements is None:
            raise SystemExit(f"{pyproject}: no extra named {extra!r}")
        todo += _pin(requirements, project, pins, pyproject)
    return pins


def _pin(
    requirements: list[str], project: dict[str, Any], pins: list[str], pyproject: Path
) -> list[str]:
    """Append the pins of `requirements`; return the project's own extras they include."""
    included = []
    for requirement in requirements:
        match = _REQUIREMENT.fullmatch(requirement)
        if match is None:
            raise SystemExit(f"{pyproject}: cannot read the requirement {requirement!r}")
        if match["name"] == project["name"]:
            included += [e.strip() for e in (match["extras"] or "").split(",") if e.strip()]
            continue
        floor = [s.strip()[2:] for s in match["specs"].split(",") if s.strip().startswith(">=")]
        if not floor:
            raise SystemExit(f"{pyproject}: {requirement!r} declares no floor (>=)")
        pin = f"{match['name']}=={floor[0].strip()}{match['marker'] or ''}"
        if pin not in pins:
            pins.append(pin)
    return included


if __name__ == "__main__":
    print("\n".join(floors(sys.argv[1:])))
