"""`examples/notebook.ipynb`, executed top to bottom in a real kernel against the emulator.

No configuration reaches the kernel (no `AOAI_*`, no `.env` in its working
directory), so the notebook starts the built-in emulator on its simulated
clock: no network, and a minute of traffic in seconds.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.integration

NOTEBOOK = Path(__file__).parents[2] / "examples" / "notebook.ipynb"


def code_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_committed_without_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)

    assert code_cells(notebook)
    for cell in code_cells(notebook):
        assert cell.outputs == []
        assert cell.execution_count is None


def test_runs_top_to_bottom_on_the_emulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("AOAI_"):
            monkeypatch.delenv(name)
    notebook = nbformat.read(NOTEBOOK, as_version=4)

    NotebookClient(
        notebook,
        timeout=60,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()

    outputs = [output for cell in code_cells(notebook) for output in cell.outputs]
    text = "".join(output.get("text", "") for output in outputs if output.output_type == "stream")
    assert "01 is throttled: retry after" in text
    # The recipe knocks on throttled 01 for every request; the balancer only once.
    assert "seed recipe: 01 refused 5 of 5 requests" in text
    assert "balancer: 01 refused 1 of 5 requests" in text
    assert "cooling" in text
    # OpenTelemetry, configured after the first requests: each backend refused the burst once.
    for backend in ("01", "02", "03"):
        assert f"backend {backend}: " in text
    assert text.count("refused with a 429") == 3
    assert "refused with a 0" not in text
    images = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.data]
    assert len(images) == 2
