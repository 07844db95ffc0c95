"""Run a sweep: validate every case, skip finished runs, execute the rest, collect tables.

Output folder::

    DIR/plan.json                 every run: id, case, overrides, replication, seed
    DIR/runs/<run_id>/run.json    overrides, replication, seed, status, wall_s, error
    DIR/runs/<run_id>/summary.json   the run's summary (only when it finished)
    DIR/runs/<run_id>/complete.json  the completion record (only when it finished)
    DIR/runs/<run_id>/error.txt   the traceback of a failed run
    DIR/results.parquet           one row per run (see fleetsim.sweep.tables)
    DIR/summary.parquet           per case and metric: n, mean, 95 % CI

A run counts as finished when its folder is complete (fleetsim.runfolder: written to a
hidden sibling, renamed into place with its completion record) and its ``summary.json``
has every documented key with the right kind of value, so running the same sweep again
into the same folder runs only what is missing, failed or damaged. One sweep at a time
writes a folder (a lock beside it). Runs execute in worker processes (or Ray tasks) that get the
case's scenario data and seed and send back the summary; only this process writes files.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from fleetsim.runfolder import (
    RunFolderError,
    RunWriter,
    check_complete,
    check_summary,
    hold_lock,
    write_atomic,
    write_text_atomic,
)
from fleetsim.sweep.backends import Backend, LocalBackend
from fleetsim.sweep.plan import RunSpec, SweepPlan, describe, plan_sweep
from fleetsim.sweep.spec import SweepFile, load_sweep
from fleetsim.sweep.tables import results_table, summary_table

_CATALOG = None
_DEVICES: list[dict] = []  # devices beyond the shipped catalog that _CATALOG holds (--device-file)


def _use_devices(devices: list[dict]) -> None:
    """Make this worker's catalog the shipped one and ``devices`` (the sweep's own device files)."""
    global _CATALOG, _DEVICES
    if devices != _DEVICES:
        _CATALOG, _DEVICES = None, devices


def _simulate(scenario, seed: int) -> dict:
    """Run one scenario and return its summary (the function tests replace)."""
    global _CATALOG
    import fleetsim
    from fleetsim.hardware.catalog import load_catalog

    if _CATALOG is None:
        _CATALOG = load_catalog().with_devices(_DEVICES)
    return fleetsim.run(scenario, seed=seed, catalog=_CATALOG).summary


@contextmanager
def _in_dir(folder: str):
    """Resolve the scenario's relative files (detector.model, traces) as the engine does
    for a scenario file: against the base scenario's folder, where it exists here."""
    before = os.getcwd()
    if os.path.isdir(folder):
        os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def execute_task(task: dict) -> dict:
    """Worker side: simulate one run; never raises, a failure is returned as data."""
    from fleetsim.scenario.models import Scenario

    start = time.perf_counter()
    try:
        _use_devices(task.get("devices", []))
        with _in_dir(task["base_dir"]):
            summary = _simulate(Scenario.model_validate(task["data"]), task["seed"])
        return {"run_id": task["run_id"], "status": "ok", "summary": json.loads(json.dumps(summary)),
                "wall_s": time.perf_counter() - start, "error": None, "traceback": None}
    except Exception as err:  # every failure is reported, none stops the sweep
        message = " ".join(str(err).split()) or type(err).__name__
        return {"run_id": task["run_id"], "status": "failed", "summary": None,
                "wall_s": time.perf_counter() - start, "error": f"{type(err).__name__}: {message}"[:500],
                "traceback": traceback.format_exc()}


@dataclass
class SweepOutcome:
    """What :func:`run_sweep` did and produced."""

    plan: SweepPlan
    out_dir: Path
    results: pd.DataFrame
    summary: pd.DataFrame
    executed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def _run_record(run: RunSpec) -> dict[str, Any]:
    return {"run_id": run.run_id, "case": run.case.index, "overrides": run.overrides,
            "replication": run.replication, "seed": run.seed}


def _finished(folder: Path) -> dict | None:
    """The summary of the finished run in ``folder``; None (run it again) unless the folder is
    complete and its summary has the documented schema."""
    if not folder.is_dir():
        return None
    try:
        check_complete(folder)
        path = folder / "summary.json"
        return check_summary(json.loads(path.read_text(encoding="utf-8")), path, every_key=True)
    except (RunFolderError, OSError, ValueError):
        return None


def run_sweep(sweep: SweepFile | str | Path, out_dir: str | Path, backend: Backend | None = None,
              catalog=None, on_start: Callable[[int, int], None] | None = None,
              on_result: Callable[[RunSpec, dict], None] | None = None) -> SweepOutcome:
    """Run every unfinished run of ``sweep`` into ``out_dir`` and write the tables.

    Raises ScenarioError, before anything runs, if any case is invalid. ``on_start``
    gets (runs to execute, runs skipped); ``on_result`` each executed run and its outcome.
    """
    from fleetsim.hardware.catalog import load_catalog

    shipped = load_catalog()
    catalog = shipped if catalog is None else catalog
    sweep = sweep if isinstance(sweep, SweepFile) else load_sweep(sweep)
    plan = plan_sweep(sweep, catalog)
    backend = backend if backend is not None else LocalBackend()
    out = Path(out_dir)
    try:
        (out / "runs").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunFolderError(f"--out {out}: cannot create {err.filename or out} ({err.strerror})") from None
    with hold_lock(out):
        return _run_locked(sweep, plan, out, backend, catalog.added(shipped), on_start, on_result)


def _run_locked(sweep: SweepFile, plan: SweepPlan, out: Path, backend: Backend, devices: list[dict],
                on_start: Callable[[int, int], None] | None,
                on_result: Callable[[RunSpec, dict], None] | None) -> SweepOutcome:
    listing = {"sweep": str(sweep.path), "base": str(sweep.base_path),
               "runs": [_run_record(r) for r in plan.runs]}
    write_text_atomic(out / "plan.json", json.dumps(listing, indent=2, default=str) + "\n")
    records: dict[str, dict] = {}
    todo: list[RunSpec] = []
    for run in plan.runs:
        summary = _finished(out / "runs" / run.run_id)
        if summary is None:
            todo.append(run)
            continue
        meta = _read_json(out / "runs" / run.run_id / "run.json")
        records[run.run_id] = {**_run_record(run), "status": "ok", "error": None, "summary": summary,
                               "wall_s": meta.get("wall_s")}
    outcome_lists: dict[str, list[str]] = {"executed": [], "failed": [],
                                           "skipped": [r.run_id for r in plan.runs if r.run_id in records]}
    if on_start is not None:
        on_start(len(todo), len(outcome_lists["skipped"]))
    by_id = {r.run_id: r for r in todo}
    tasks = [{"run_id": r.run_id, "data": r.case.data, "seed": r.seed, "base_dir": plan.base_dir,
              "devices": devices} for r in todo]
    for result in backend.map(execute_task, tasks):
        run = by_id[result["run_id"]]
        records[run.run_id] = _store(out / "runs" / run.run_id, run, result)
        outcome_lists["executed"].append(run.run_id)
        if result["status"] != "ok":
            outcome_lists["failed"].append(run.run_id)
        if on_result is not None:
            on_result(run, result)
    ordered = [records[r.run_id] for r in plan.runs if r.run_id in records]
    results = results_table(ordered, plan.parameters, list(sweep.spec.metrics))
    summary = summary_table(results, plan.parameters, list(sweep.spec.metrics))
    for name, table in (("results", results), ("summary", summary)):
        write_atomic(out / f"{name}.parquet", partial(table.to_parquet, index=False))
    return SweepOutcome(plan, out, results, summary, **outcome_lists)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _store(folder: Path, run: RunSpec, result: dict) -> dict:
    """Replace ``folder`` whole: a complete run folder for a finished run, else run.json and error.txt."""
    record = {**_run_record(run), "status": result["status"], "error": result["error"],
              "wall_s": result["wall_s"]}
    with RunWriter(folder, overwrite=True, lock=False) as writer:
        (writer.path / "run.json").write_text(json.dumps({**record, "case_label": describe(run.overrides)},
                                                         indent=2, default=str) + "\n", encoding="utf-8")
        if result["status"] == "ok":
            (writer.path / "summary.json").write_text(json.dumps(result["summary"], indent=2, sort_keys=True)
                                                      + "\n", encoding="utf-8")
            writer.seal(hashlib.sha256(run.case.resolved.encode()).hexdigest())
        else:
            (writer.path / "error.txt").write_text(result["traceback"] or result["error"], encoding="utf-8")
        writer.publish()
    return {**record, "summary": result["summary"]}
