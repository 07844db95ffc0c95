"""A saved run read back from its folder: summary.json, the resolved scenario and the tables.

>>> run = load_run("out/placement")                       # doctest: +SKIP
>>> run.summary["latency_ms"]["p99"], run.table("latency_legs") is None   # doctest: +SKIP
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from fleetsim.errors import FleetsimError
from fleetsim.scenario.units import QuantityError, parse_quantity

REPORT_TABLES = ("latency_legs", "latency_histogram", "vehicles", "inference_servers", "accuracy_windows",
                 "model_versions", "model_swaps", "rollouts", "uploads")
"""Tables the report reads; a section whose table is missing says so instead."""


class RunFolderError(FleetsimError):
    """A path that is not a readable run folder (missing, or without summary.json)."""


@dataclass
class RunFolder:
    """One run folder; tables are read on first use, and a missing one reads as None."""

    path: Path
    summary: dict
    scenario: dict
    _tables: dict[str, pd.DataFrame | None] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        """The folder's name, which labels the run in comparisons."""
        return self.path.name

    @property
    def duration_s(self) -> float:
        """Simulated seconds."""
        return float(self.summary["run"]["sim_s"])

    def table(self, name: str) -> pd.DataFrame | None:
        """tables/<name>.parquet, or None if this run did not write it."""
        if name not in self._tables:
            file = self.path / "tables" / f"{name}.parquet"
            self._tables[name] = pd.read_parquet(file) if file.is_file() else None
        return self._tables[name]

    def missing_tables(self) -> list[str]:
        """Those of :data:`REPORT_TABLES` this run folder lacks."""
        return [name for name in REPORT_TABLES if self.table(name) is None]

    def deadlines_s(self) -> dict[str, float]:
        """Each vehicle group's latency deadline in seconds (from scenario.resolved.yaml)."""
        out = {}
        for group in self.scenario.get("fleet", {}).get("groups", []):
            try:
                out[group["name"]] = parse_quantity(group["deadline"], "time")
            except (KeyError, QuantityError):
                continue
        return out


def load_run(path: str | Path) -> RunFolder:
    """Read the run folder at ``path``.

    Raises:
        RunFolderError: the folder does not exist, or holds no readable summary.json.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise RunFolderError(f"{folder}: no such run folder")
    summary_file = folder / "summary.json"
    if not summary_file.is_file():
        raise RunFolderError(f"{folder}: not a run folder (no summary.json; write one with "
                             "fleetsim run SCENARIO --out DIR)")
    try:
        summary = json.loads(summary_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise RunFolderError(f"{summary_file}:{err.lineno}: not valid JSON: {err.msg}") from None
    scenario_file = folder / "scenario.resolved.yaml"
    scenario = yaml.safe_load(scenario_file.read_text(encoding="utf-8")) if scenario_file.is_file() else {}
    return RunFolder(path=folder, summary=summary, scenario=scenario or {})
