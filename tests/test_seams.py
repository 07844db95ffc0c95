"""The seams between edge and cloud: the cloud uses only the fleet facade, and only the
facade brings the fleet up to the clock."""

from __future__ import annotations

import ast

from tests.conftest import ROOT

PACKAGE = ROOT / "fleetsim"


def _imports(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module} | {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}


def test_the_cloud_reaches_the_edge_only_through_the_fleet_facade():
    for path in sorted((PACKAGE / "cloud").glob("*.py")):
        edge = {m for m in _imports(path) if m.startswith("fleetsim.edge")}
        assert edge <= {"fleetsim.edge.facade"}, f"{path.name} imports {sorted(edge)}"


SIMULATION = ("edge", "cloud", "network", "metrics", "engine.py", "results.py")
"""Where the fleet's ``advance_to`` / ``flush`` could be called (a file's ``flush`` elsewhere is not)."""


def test_only_the_facade_brings_the_fleet_up_to_the_clock():
    callers = []
    paths = [p for part in SIMULATION for p in ([PACKAGE / part] if part.endswith(".py")
                                                 else (PACKAGE / part).rglob("*.py"))]
    for path in sorted(paths):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("advance_to", "flush")
                    and not (isinstance(node.func.value, ast.Name) and node.func.value.id == "self")):
                callers.append(path.relative_to(PACKAGE).as_posix())
    assert set(callers) == {"edge/facade.py"}
