"""Expand a sweep into runs: cases x replications, derived seeds, stable run ids.

A *case* is one set of overrides (a grid point, merged with one entry of ``cases``).
Replication ``r`` of a case runs with the seed drawn from
``numpy.random.SeedSequence(sweep seed, spawn_key=(crc32(case key), r))``, where the
case key is the canonical JSON of its overrides: a case keeps its seeds when values
are added to or removed from the grid, and the same sweep always gives the same seeds.

A run's id is a hash of the fully resolved scenario it runs (every default filled in)
and its seed, so a finished run is recognised on resume even if the grid was
reordered, and a run whose base scenario changed is not mistaken for a finished one.

Every case is validated (schema and references) before anything runs:
:func:`plan_sweep` raises one ScenarioError listing every problem with the overrides
that caused it.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fleetsim.errors import Issue, ScenarioError
from fleetsim.scenario.models import Scenario
from fleetsim.scenario.references import check_references
from fleetsim.scenario.validation import dotted, validate_document
from fleetsim.scenario.yamlfile import YamlDocument, read_yaml
from fleetsim.sweep.overrides import OverrideError, apply_override
from fleetsim.sweep.spec import SweepFile


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def describe(overrides: dict[str, Any]) -> str:
    """``a=1, b=15 Hz`` (or ``base scenario`` for no overrides), for messages."""
    return ", ".join(f"{k}={v}" for k, v in overrides.items()) or "base scenario"


def expand_cases(grid: dict[str, list[Any]], cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every combination of grid values, each merged with every entry of ``cases``.

    >>> expand_cases({"a": [1, 2]}, [{"c": 0}, {"c": 1}])
    [{'c': 0, 'a': 1}, {'c': 0, 'a': 2}, {'c': 1, 'a': 1}, {'c': 1, 'a': 2}]
    """
    points = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    return [{**case, **point} for case in (cases or [{}]) for point in points]


def derived_seed(root: int, overrides: dict[str, Any], replication: int) -> int:
    """The seed of replication ``replication`` of the case with these overrides (< 2**63)."""
    case_key = zlib.crc32(_canonical_json(overrides).encode())
    seq = np.random.SeedSequence(entropy=root, spawn_key=(case_key, replication))
    return int(seq.generate_state(1, np.uint64)[0] >> np.uint64(1))


@dataclass(frozen=True)
class Case:
    """One set of overrides and the scenario data it gives."""

    index: int
    overrides: dict[str, Any]
    data: dict = field(repr=False)
    resolved: str = field(repr=False)  # canonical JSON of the validated scenario

    @property
    def label(self) -> str:
        return describe(self.overrides)


@dataclass(frozen=True)
class RunSpec:
    """One simulation of the sweep: a case, a replication and its seed."""

    run_id: str
    case: Case
    replication: int
    seed: int

    @property
    def overrides(self) -> dict[str, Any]:
        return self.case.overrides


@dataclass
class SweepPlan:
    """Every run of a validated sweep, in order (case by case, replications inside)."""

    sweep: SweepFile
    cases: list[Case]
    runs: list[RunSpec]
    base_dir: str

    @property
    def parameters(self) -> list[str]:
        """Swept paths, in the order they first appear."""
        seen: dict[str, None] = {}
        for case in self.cases:
            seen.update(dict.fromkeys(case.overrides))
        return list(seen)


def run_id(resolved: str, seed: int) -> str:
    """Stable id of a run: sha256 of the resolved scenario and the seed, 16 hex digits."""
    return hashlib.sha256(f"{resolved}\n{seed}".encode()).hexdigest()[:16]


def _validate_case(doc: YamlDocument, data: dict, catalog) -> tuple[Scenario | None, list[Issue]]:
    case_doc = YamlDocument(doc.file, data, doc.root)
    try:
        scenario = validate_document(Scenario, case_doc)
    except ScenarioError as err:
        return None, err.issues
    problems = check_references(scenario, catalog)
    return scenario, [Issue(doc.file, doc.line_of(p), dotted(p), m) for p, m in problems]


def _group_metric_issues(sweep: SweepFile, scenario: Scenario) -> list[str]:
    names = {g.name for g in scenario.fleet.groups}
    return [f"metric {m!r}: no group {m.split('.')[1]!r} (groups: {', '.join(sorted(names))})"
            for m in sweep.spec.metrics if m.startswith("groups.") and m.split(".")[1] not in names]


def plan_sweep(sweep: SweepFile, catalog) -> SweepPlan:
    """Expand and validate every case; ScenarioError naming each bad case's overrides."""
    base = read_yaml(sweep.base_path)
    spec = sweep.spec
    issues: list[Issue] = []
    cases: list[Case] = []
    for index, overrides in enumerate(expand_cases(spec.grid, spec.cases)):
        prefix = f"[case {index}: {describe(overrides)}] "
        data, bad = _apply_all(base.data, overrides)
        issues += [sweep.issue(_where(spec, err.path), _reason(err)) for err in bad]
        if bad:
            continue
        scenario, problems = _validate_case(base, data, catalog)
        issues += [Issue(p.file, p.line, p.path, prefix + p.message) for p in problems]
        if scenario is None:
            continue
        issues += [sweep.issue(("metrics",), prefix + m) for m in _group_metric_issues(sweep, scenario)]
        resolved = _canonical_json(scenario.model_dump(mode="json"))
        cases.append(Case(index, overrides, data, resolved))
    if issues:
        raise ScenarioError(_dedupe(issues))
    runs = []
    for case in cases:
        for r in range(spec.replications):
            seed = derived_seed(spec.seed, case.overrides, r)
            runs.append(RunSpec(run_id(case.resolved, seed), case, r, seed))
    return SweepPlan(sweep, cases, runs, str(sweep.base_path.resolve().parent))


def _apply_all(data: dict, overrides: dict[str, Any]) -> tuple[dict, list[OverrideError]]:
    """Apply every override that can be applied; return the data and every failure."""
    out, bad = copy.deepcopy(data), []
    for path, value in overrides.items():
        try:
            apply_override(out, path, value)
        except OverrideError as err:
            bad.append(err)
    return out, bad


def _reason(err: OverrideError) -> str:
    text = str(err)
    return text[len(err.path) + 2:] if err.path and text.startswith(err.path + ": ") else text


def _where(spec, path: str) -> tuple:
    """Where in the sweep file an override path was written."""
    if path in spec.grid:
        return ("grid", path)
    for i, case in enumerate(spec.cases):
        if path in case:
            return ("cases", i, path)
    return ()


def _dedupe(issues: list[Issue]) -> list[Issue]:
    seen: dict[str, Issue] = {}
    for issue in issues:
        seen.setdefault(str(issue), issue)
    return list(seen.values())
