"""What the cloud contributes to a run's results: the sample store and labelling, retraining.

Collectors as in ``fleetsim.edge.collectors``: ``tables()``, then ``summary(tables)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fleetsim.cloud.loop import RetrainingLoop
from fleetsim.cloud.store import SampleStore, store_figures
from fleetsim.metrics.columns import TABLE_COLUMNS
from fleetsim.metrics.events import EventLog
from fleetsim.metrics.recovery import drift_onsets, recovery_times

STORE_TABLES = ("store_samples", "labels", "store_drops")
RETRAINING_TABLES = ("training_jobs", "training_events", "model_versions", "model_compiles", "rollouts",
                     "skipped_jobs", "model_swaps")


class StoreResults:
    """The sample store's tables, the ``labeling`` section and the store's ``samples`` figures."""

    def __init__(self, store: SampleStore, log: EventLog, labeler_kind: str):
        self.log = log
        self.labeler_kind = labeler_kind
        self.received = store.received  # at the horizon

    def tables(self) -> dict[str, pd.DataFrame]:
        tables = {name: self.log.frame(name, list(TABLE_COLUMNS[name])) for name in STORE_TABLES}
        self.samples, self.labeling, tables["sample_conditions"] = store_figures(tables)
        return tables

    def summary(self, tables: dict[str, pd.DataFrame]) -> dict:
        return {"samples": {"uploaded": self.received, **self.samples},
                "labeling": {"labeler": self.labeler_kind, **self.labeling}}


class RetrainingResults:
    """Jobs, model versions, rollouts and swaps, and the ``retraining`` section (also without a loop)."""

    def __init__(self, loop: RetrainingLoop | None, log: EventLog, world, duration_s: float, vehicles: int):
        self.log = log
        self.released = loop.versions_released if loop is not None else 0  # at the horizon
        self.shipped_map50 = loop.tuner.shipped_map50 if loop is not None else None
        self.waited_s = loop.tuner.waited_s if loop is not None else 0.0
        self.world = world
        self.duration_s = duration_s
        self.vehicles = vehicles

    def tables(self) -> dict[str, pd.DataFrame]:
        return {name: self.log.frame(name, list(TABLE_COLUMNS[name])) for name in RETRAINING_TABLES}

    def summary(self, tables: dict[str, pd.DataFrame]) -> dict:
        jobs, swaps, versions = tables["training_jobs"], tables["model_swaps"], tables["model_versions"]
        return {"retraining": {
            "jobs": len(jobs),
            **job_states(tables["training_events"]),
            "models_released": self.released,
            "models_rejected": int((~versions["deployed"].astype(bool)).sum()) if len(versions) else 0,
            "skipped_over_budget": len(tables["skipped_jobs"]),
            "deployments": int(swaps.loc[~swaps["rollback"].astype(bool), "to_version"].nunique())
            if len(swaps) else 0,
            "rollbacks": int((tables["rollouts"]["decision"] == "rollback").sum()),
            **self._recovery(tables),
            "vehicle_swaps": len(swaps),
            **compile_figures(tables["model_compiles"]),
        }, "run": {"training_wait_s": self.waited_s}}

    def _recovery(self, tables: dict) -> dict:
        """retraining.drift_onsets / recovered / time_to_recover_s (mean over recovered onsets)."""
        onsets = drift_onsets(self.world, self.duration_s)
        times = ([None] * len(onsets) if self.shipped_map50 is None else
                 recovery_times(onsets, self.shipped_map50, tables["model_versions"], tables["model_swaps"],
                                self.vehicles))
        done = [t for t in times if t is not None]
        return {"drift_onsets": len(onsets), "recovered": len(done),
                "time_to_recover_s": float(np.mean(done)) if done else None}


def compile_figures(compiles: pd.DataFrame) -> dict:
    """retraining.compiles / compile_s / compile_cost_usd: the released versions' target compiles."""
    return {"compiles": len(compiles), "compile_s": float(compiles["compile_s"].sum()),
            "compile_cost_usd": float(compiles["cost_usd"].sum())}


def job_states(events: pd.DataFrame) -> dict:
    """retraining.jobs_submitted / running / queued at the end, preemptions, what they cost, and the
    node time billed (every stay within the run, finished or not)."""
    last = events.groupby("job", sort=False)["event"].last()
    preempted = events[events["event"] == "preempted"]
    unfinished = events["job"].isin(last.index[last != "finished"])
    return {
        "jobs_submitted": int((events["event"] == "submitted").sum()),
        "jobs_running": int((last == "started").sum()),
        "jobs_queued": int(last.isin(["submitted", "preempted"]).sum()),
        "preemptions": len(preempted),
        "preempted_lost_s": float(preempted["lost_s"].sum()),
        "restart_s": float(preempted["restart_s"].sum()),
        "cloud_energy_j": float(events["energy_j"].sum()),
        "cloud_kwh": float(events["energy_j"].sum()) / 3.6e6,
        "cloud_cost_usd": float(events["cost_usd"].sum()),
        "unfinished_cost_usd": float(events.loc[unfinished, "cost_usd"].sum()),
    }
