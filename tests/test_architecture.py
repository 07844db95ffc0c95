"""The package table of docs/architecture.md is what the code does: every import of every
module (function-level ones too) points where its package's row allows; and every module
that a docstring, comment or doc names exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import ROOT

TABLE = ROOT / "docs" / "architecture.md"
PACKAGE = ROOT / "fleetsim"

ALLOWED_CROSSINGS: set[tuple[str, str]] = set()
"""(importing module, imported module) where the code still crosses a line of the table."""

STALE_NAMES: set[tuple[str, str]] = set()
"""(file, name) named in a docstring but not a module, with the change that fixes it."""


def _rows() -> list[tuple[str, set[str], set[str]]]:
    """(package, may import, never imports) of every row of the table, foundation first."""
    rows = []
    for line in TABLE.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"`fleetsim[\w.]*`", cells[0]):
            may, never = (set(re.findall(r"`([\w.]+)`", c)) for c in cells[2:])
            rows.append((cells[0].strip("`"), may, never))
    return rows


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any level (``from a import b`` gives ``a`` and ``a.b``)."""
    module = _module_name(path)
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package, one level up per extra dot
                package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names if _is_module(f"{base}.{a.name}")}
    return found


def _is_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _owner(module: str, packages: list[str]) -> str | None:
    """The row a fleetsim module belongs to (``fleetsim`` itself only for the package's __init__)."""
    if module == "fleetsim":
        return "fleetsim"
    matches = [p for p in packages if p != "fleetsim" and (module == p or module.startswith(p + "."))]
    return max(matches, key=len, default=None)


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_the_table_is_a_layering():
    rows = _rows()
    names = [name for name, _, _ in rows]
    assert len(rows) > 15 and len(set(names)) == len(names)
    for i, (name, may, _) in enumerate(rows):
        above = {_owner(m, names) for m in may}  # a row may name a package or one of its modules
        assert above <= set(names[:i]), f"{name} may only import packages of rows above it"


def test_every_module_belongs_to_a_row():
    packages = [name for name, _, _ in _rows()]
    unowned = [_module_name(p) for p in MODULES if _owner(_module_name(p), packages) is None]
    assert unowned == [], "add a row to docs/architecture.md for these modules"


def test_imports_point_where_the_table_allows():
    rows = {name: (may, never) for name, may, never in _rows()}
    crossings, forbidden = set(), []
    for path in MODULES:
        module = _module_name(path)
        owner = _owner(module, list(rows))
        may, never = rows[owner]
        for imported in _imports(path):
            top = imported.split(".")[0]
            if top in never:
                forbidden.append(f"{module} imports {imported}")
            if top != "fleetsim" or not _is_module(imported):
                continue
            target = _owner(imported, list(rows))
            named = any(imported == m or imported.startswith(m + ".") for m in may)
            if target != owner and not named:
                crossings.add((module, imported))
    assert forbidden == []
    assert crossings - ALLOWED_CROSSINGS == set(), "imports the table does not allow"
    assert ALLOWED_CROSSINGS - crossings == set(), "crossings gone from the code: remove them from the list"


def test_runtime_hardware_has_neither_torch_nor_the_detector():
    for path in (PACKAGE / "hardware").rglob("*.py"):
        tops = {name.split(".")[0] for name in _imports(path)}
        assert "torch" not in tops, path
        assert not any(name.startswith("fleetsim.detector") for name in _imports(path)), path


TOOLS_DOOR = "fleetsim.cli_hardware"
"""The one module outside the tools that imports them: the offline ``fleetsim hardware measure``."""


def test_nothing_outside_the_tools_imports_them():
    for path in MODULES:
        if _module_name(path).startswith("fleetsim.tools") or _module_name(path) == TOOLS_DOOR:
            continue
        assert not any(name.startswith("fleetsim.tools") for name in _imports(path)), path


NAMED = re.compile(r"(?<![\w./-])fleetsim(?:\.[A-Za-z_]\w*)+")


def _top_level_names(path: Path) -> set[str]:
    names: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names.update(x.id for t in targets for x in ast.walk(t) if isinstance(x, ast.Name))
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, ast.If | ast.Try):
                visit(node.body)
                visit(node.orelse)

    visit(ast.parse(path.read_text()).body)
    return names


def _exists(named: str) -> bool:
    """Whether a dotted ``fleetsim`` name is a module, or a name defined at the top of one."""
    parts = named.split(".")
    for i in range(len(parts), 0, -1):
        if _is_module(".".join(parts[:i])):
            if i == len(parts):
                return True
            base = ROOT.joinpath(*parts[:i])
            path = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
            return parts[i] in _top_level_names(path)
    return False


def _documents() -> list[Path]:
    tests = [p for p in (ROOT / "tests").glob("*.py") if p.name != Path(__file__).name]  # names on purpose
    return [*MODULES, *tests, *(ROOT / "benchmarks").glob("*.py"),
            *(ROOT / "docs").glob("*.md"), ROOT / "README.md", *(ROOT / "notebooks").glob("*.ipynb")]


def test_named_modules_exist():
    missing = []
    for path in _documents():
        rel = str(path.relative_to(ROOT))
        missing += [f"{rel}:{i}: {name}" for i, line in enumerate(path.read_text().splitlines(), 1)
                    for name in NAMED.findall(line)
                    if (rel, name) not in STALE_NAMES and not _exists(name.rstrip("."))]
    assert missing == []
