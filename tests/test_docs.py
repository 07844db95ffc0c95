"""Generated reference pages are up to date; every notebook is stored clean, uses only the
public API and runs.

Notebooks run on short settings: the kernel inherits ``FLEETSIM_SHORT=1``, and each
notebook's first code cell reads it (``SHORT = os.environ.get("FLEETSIM_SHORT") == "1"``)
to pick small fleets and short runs.
"""

from __future__ import annotations

import ast

import nbformat
import pytest
from nbclient import NotebookClient

import fleetsim
from fleetsim import reference_docs
from tests.conftest import ROOT

SHORT_SWITCH = 'SHORT = os.environ.get("FLEETSIM_SHORT") == "1"'


@pytest.mark.parametrize("page", sorted(reference_docs.PAGES))
def test_reference_pages_are_current(page):
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    assert text == reference_docs.PAGES[page](), (
        f"docs/{page} is stale: run python -m fleetsim.reference_docs")


NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))


def fleetsim_names(source: str) -> set[str]:
    """Every name a cell takes from the package: a submodule it imports (``paths`` for
    ``from fleetsim.paths import ...``), a name it imports from the package, an attribute
    it reads off ``fleetsim``."""
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names |= {a.name.removeprefix("fleetsim.") for a in node.names if a.name.startswith("fleetsim.")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fleetsim"):
            names |= ({a.name for a in node.names} if node.module == "fleetsim"
                      else {node.module.removeprefix("fleetsim.")})
        elif isinstance(node, ast.Attribute) and getattr(node.value, "id", None) == "fleetsim":
            names.add(node.attr)
    return names


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebooks_use_only_the_public_api(name):
    notebook = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    used = set().union(*(fleetsim_names(c.source) for c in notebook.cells if c.cell_type == "code"))
    assert used, f"{name} uses nothing from fleetsim"
    private = sorted(used - set(fleetsim.__all__))
    assert not private, f"{name} uses {private}, which fleetsim does not export (fleetsim.__all__)"


def test_the_public_api_check_sees_internal_imports():
    cell = "import fleetsim\nfrom fleetsim.paths import PROJECT_ROOT\n%matplotlib inline\nfleetsim.engine.run"
    assert fleetsim_names(cell) == {"paths", "engine"}


@pytest.mark.parametrize("name", NOTEBOOKS)
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
