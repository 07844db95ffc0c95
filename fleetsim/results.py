"""Results of one run: the summary, tidy tables, plots, and saving them to a folder.

Each subsystem contributes its tables and summary figures through a ``Collector``;
``build_results`` merges them and checks every table column and every summary key
against the data dictionary (``fleetsim.metrics.columns``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pandas as pd

from fleetsim.metrics.columns import SUMMARY_KEYS, TABLE_COLUMNS
from fleetsim.scenario.models import Scenario


@dataclass
class Results:
    """What ``fleetsim.run`` returns.

    Attributes:
        scenario: the fully resolved scenario that ran.
        summary: headline figures (the contents of summary.json).
        tables: tidy pandas tables by name (see docs/results.md).
    """

    scenario: Scenario
    summary: dict
    tables: dict[str, pd.DataFrame]

    def summary_json(self) -> str:
        """summary.json text: sorted keys, so equal runs give equal bytes (but the run's host seconds:
        ``fleetsim.digests.WALL_SUMMARY_KEYS``)."""
        return json.dumps(self.summary, indent=2, sort_keys=True) + "\n"

    def plot_latency_cdf(self, ax=None):
        """Latency CDF per vehicle group on ``ax`` (a new figure if None); returns the axes."""
        from fleetsim.metrics import plots  # matplotlib: loaded when a run is plotted

        deadlines = {g.name: g.deadline for g in self.scenario.fleet.groups}
        return plots.latency_cdf({"": (self.tables["latency_histogram"], deadlines)},
                                 f"{self.scenario.name}: latency CDF", ax=ax)

    def plot_uploads_and_versions(self, axes=None):
        """Cumulative uploads and the fleet's model versions over time; returns the axes."""
        from fleetsim.metrics import plots

        return plots.uploads_and_versions(self.tables, self.scenario, axes=axes)

    def plot_accuracy(self, ax=None):
        """Fleet mAP@0.5 over time with condition bands and model switches; returns the axes."""
        from fleetsim.metrics import plots

        return plots.accuracy_over_time(self.tables, ax=ax, title=f"{self.scenario.name}: mAP@0.5 over time")

    def save(self, out_dir: str | Path, overwrite: bool = False) -> Path:
        """Write summary.json, scenario.resolved.yaml, tables/*.parquet, plots/*.png and report.html as one
        complete run folder, atomically (see fleetsim.runfolder); a run already at ``out_dir``
        is replaced whole only with ``overwrite`` (else RunFolderError)."""
        from fleetsim.runfolder import save_run

        folder = save_run(self, out_dir, overwrite=overwrite)
        if self.scenario.outputs.plots:  # as fleetsim run does: the report beside the sealed files
            from fleetsim.report import write_report

            write_report(folder)
        return folder


class Collector(Protocol):
    """A subsystem's part of the results (``fleetsim.edge.collectors``, ``fleetsim.cloud.collectors``, ...).

    ``tables()`` gives its tables by name; ``summary(tables)`` then gives its summary
    figures as nested sections (it may read any collector's tables). Sections several
    collectors fill (``energy``, ``groups.<name>``) are merged; a figure given twice is an error.
    """

    def tables(self) -> dict[str, pd.DataFrame]: ...

    def summary(self, tables: dict[str, pd.DataFrame]) -> dict: ...


class UndocumentedResult(Exception):
    """A table, column or summary key missing from the data dictionary (fleetsim/metrics/columns.py)."""


def build_results(scenario: Scenario, collectors: list[Collector], wall_s: float) -> Results:
    """Merge the collectors' tables and figures once the run has finished; check them against the
    data dictionary."""
    tables: dict[str, pd.DataFrame] = {}
    for collector in collectors:
        part = collector.tables()
        _merge(tables, part, "table")
    summary: dict = {}
    for collector in collectors:
        _merge(summary, collector.summary(tables), "summary")
    _merge(summary, {"run": {
        "scenario": scenario.name,
        "seed": scenario.simulation.seed,
        "mode": scenario.simulation.mode,
        "sim_s": scenario.simulation.duration,
        "wall_s": wall_s,
    }}, "summary")
    check_tables(tables)
    check_summary(summary)
    tables = {name: tables[name] for name in TABLE_COLUMNS if name in tables}
    return Results(scenario=scenario, summary=summary, tables=tables)


def _merge(into: dict, part: dict, what: str, path: str = "") -> None:
    """Add ``part`` to ``into``, section by section; a key both hold (not a section) is an error."""
    for key, value in part.items():
        where = f"{path}{key}"
        if isinstance(value, dict) and isinstance(into.get(key), dict) and what == "summary":
            _merge(into[key], value, what, f"{where}.")
        elif key in into:
            raise ValueError(f"{what} {where} given by two collectors")
        else:
            into[key] = value


def check_tables(tables: dict[str, pd.DataFrame]) -> None:
    """Every table and each of its columns (in order) is in the data dictionary."""
    for name, table in tables.items():
        documented = list(TABLE_COLUMNS.get(name, {}))
        if list(table.columns) != documented:
            raise UndocumentedResult(f"table {name}: columns {list(table.columns)} differ from the data "
                                     f"dictionary's {documented} (fleetsim/metrics/columns.py)")


def summary_keys(summary: dict, prefix: tuple[str, ...] = ()) -> list[str]:
    """The documented form of every key of ``summary``: dotted, a group's name as ``<name>``, a
    documented section's contents as its own key (``samples.by_condition``) or ``section.*``."""
    keys = []
    for key, value in summary.items():
        path = (*prefix, "<name>" if prefix == ("groups",) else key)
        dotted = ".".join(path)
        if len(path) == 3 and path[0] == "groups" and f"{dotted}.*" in SUMMARY_KEYS:
            keys.append(f"{dotted}.*")
        elif isinstance(value, dict) and value and dotted not in SUMMARY_KEYS:
            keys += summary_keys(value, path)
        else:
            keys.append(dotted)
    return keys


def check_summary(summary: dict) -> None:
    """Every summary.json key is in the data dictionary (``SUMMARY_KEYS``)."""
    missing = sorted({k for k in summary_keys(summary) if k not in SUMMARY_KEYS})
    if missing:
        raise UndocumentedResult(f"summary keys missing from the data dictionary "
                                 f"(fleetsim/metrics/columns.py SUMMARY_KEYS): {', '.join(missing)}")
