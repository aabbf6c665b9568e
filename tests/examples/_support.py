"""What the example tests share: loading an example as a module and running it as a script."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

EXAMPLES = Path(__file__).parents[2] / "examples"


def load_example(path: Path) -> ModuleType:
    """The example at `path`, imported afresh (examples are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_unconfigured(path: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the example as a script with no AOAI_* anywhere, so it starts the emulator.

    `cwd` should hold no `.env` (a test's `tmp_path`).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("AOAI_")}
    return subprocess.run(
        [sys.executable, str(path), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
