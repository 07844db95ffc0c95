"""Generated reference pages are up to date; every notebook is stored clean and runs.

Notebooks run on short settings: the kernel inherits ``FLEETSIM_SHORT=1``, and each
notebook's first code cell reads it (``SHORT = os.environ.get("FLEETSIM_SHORT") == "1"``)
to pick small fleets and short runs.
"""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from fleetsim import reference_docs
from tests.conftest import ROOT

SHORT_SWITCH = 'SHORT = os.environ.get("FLEETSIM_SHORT") == "1"'


@pytest.mark.parametrize("page", sorted(reference_docs.PAGES))
def test_reference_pages_are_current(page):
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    assert text == reference_docs.PAGES[page](), (
        f"docs/{page} is stale: run python -m fleetsim.reference_docs")


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb")))
def test_notebooks_are_stored_without_outputs_and_run(name, tmp_path, monkeypatch):
    path = ROOT / "notebooks" / name
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{name} has outputs"
    first_code = next(c.source for c in notebook.cells if c.cell_type == "code")
    assert SHORT_SWITCH in first_code, f"{name}: its first code cell should read {SHORT_SWITCH}"
    monkeypatch.setenv("FLEETSIM_SHORT", "1")  # the kernel inherits it: short settings
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
