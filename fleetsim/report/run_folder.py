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

from fleetsim.runfolder import RunFolderError, check_complete, check_summary
from fleetsim.scenario.units import QuantityError, parse_quantity

REPORT_TABLES = ("latency_legs", "latency_histogram", "vehicles", "inference_servers", "accuracy_windows",
                 "model_versions", "model_swaps", "rollouts", "uploads")
"""Tables the report reads; a section whose table is missing says so instead."""


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
            import pyarrow

            try:
                self._tables[name] = pd.read_parquet(file) if file.is_file() else None
            except (OSError, ValueError, pyarrow.ArrowException) as err:
                raise RunFolderError(f"{file}: unreadable table: {' '.join(str(err).split())}") from None
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
    """Read the complete run folder at ``path``.

    Raises:
        RunFolderError: the folder does not exist, is not complete (no completion record, or
            files that differ from it), or its summary.json or scenario.resolved.yaml is unreadable.
    """
    folder = Path(path)
    check_complete(folder)
    summary_file = folder / "summary.json"
    try:
        summary = json.loads(summary_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunFolderError(f"{folder}: not a run folder (no summary.json; write one with "
                             "fleetsim run SCENARIO --out DIR)") from None
    except json.JSONDecodeError as err:
        raise RunFolderError(f"{summary_file}:{err.lineno}: not valid JSON: {err.msg}") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise RunFolderError(f"{summary_file}: unreadable: {err}") from None
    check_summary(summary, summary_file)
    scenario_file = folder / "scenario.resolved.yaml"
    try:
        text = scenario_file.read_text(encoding="utf-8") if scenario_file.is_file() else "{}"
        scenario = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise RunFolderError(f"{scenario_file}: unreadable: {' '.join(str(err).split())}") from None
    return RunFolder(path=folder, summary=summary, scenario=scenario if isinstance(scenario, dict) else {})
