"""Results of one run: the summary, tidy tables, plots, and saving them to a folder."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from fleetsim.cloud.store import store_figures
from fleetsim.hardware.catalog import Catalog
from fleetsim.metrics import plots
from fleetsim.metrics.accuracy import AccuracyRecord
from fleetsim.metrics.columns import DETECTION_COLUMNS, TABLE_COLUMNS
from fleetsim.metrics.events import EventLog
from fleetsim.metrics.hardware_cost import hardware_figures
from fleetsim.metrics.ledger import FrameLedger, bin_edges
from fleetsim.metrics.recovery import drift_onsets, recovery_times
from fleetsim.metrics.summary import fault_figures, frame_figures
from fleetsim.network.coverage import GAP, HANDOVER
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
        """summary.json text: sorted keys, so equal runs give equal bytes (but run.wall_s)."""
        return json.dumps(self.summary, indent=2, sort_keys=True) + "\n"

    def plot_latency_cdf(self, ax=None):
        """Latency CDF per vehicle group on ``ax`` (a new figure if None); returns the axes."""
        deadlines = {g.name: g.deadline for g in self.scenario.fleet.groups}
        return plots.latency_cdf({"": (self.tables["latency_histogram"], deadlines)},
                                 f"{self.scenario.name}: latency CDF", ax=ax)

    def plot_uploads_and_versions(self, axes=None):
        """Cumulative uploads and the fleet's model versions over time; returns the axes."""
        return plots.uploads_and_versions(self.tables, self.scenario, axes=axes)

    def plot_accuracy(self, ax=None):
        """Fleet mAP@0.5 over time with condition bands and model switches; returns the axes."""
        return plots.accuracy_over_time(self.tables, ax=ax)

    def save(self, out_dir: str | Path) -> Path:
        """Write summary.json, scenario.resolved.yaml, tables/*.parquet and plots/*.png."""
        out = Path(out_dir)
        (out / "tables").mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(self.summary_json(), encoding="utf-8")
        resolved = yaml.safe_dump(self.scenario.model_dump(mode="json"), sort_keys=False)
        (out / "scenario.resolved.yaml").write_text(resolved, encoding="utf-8")
        for name, table in self.tables.items():
            table.to_parquet(out / "tables" / f"{name}.parquet", index=False)
        if self.scenario.outputs.plots:
            (out / "plots").mkdir(exist_ok=True)
            plots.save_all(self, out / "plots")
        return out


def _group_figures(ledger: FrameLedger, groups: list[str], vehicles) -> dict:
    out = {}
    for g, name in enumerate(groups):
        members = np.flatnonzero(ledger.layout.group == g)
        out[name] = frame_figures(ledger, members, ledger.histograms[g])
        out[name]["faults"] = fault_figures([vehicles[i] for i in members], ledger.duration_s)
    return out


def _recovery(scenario: Scenario, shipped_map50: dict | None, tables: dict, vehicles: int) -> dict:
    """retraining.drift_onsets / recovered / time_to_recover_s (mean over recovered onsets)."""
    onsets = drift_onsets(scenario.world, scenario.simulation.duration)
    times = ([None] * len(onsets) if shipped_map50 is None else
             recovery_times(onsets, shipped_map50, tables["model_versions"], tables["model_swaps"], vehicles))
    done = [t for t in times if t is not None]
    return {"drift_onsets": len(onsets), "recovered": len(done),
            "time_to_recover_s": float(np.mean(done)) if done else None}


def _job_states(events: pd.DataFrame) -> dict:
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


def _staleness_s(detections: pd.DataFrame, versions: pd.DataFrame) -> float | None:
    """Mean age, at capture, of the model each detected frame ran (version 0 dates from t = 0)."""
    if not len(detections):
        return None
    released = dict(zip(versions["version"], versions["t_release_s"], strict=True)) if len(versions) else {}
    born = detections["model_version"].map(lambda v: released.get(v, 0.0))
    return float((detections["t_capture_s"] - born).mean())


def _outages_table(vehicles) -> pd.DataFrame:
    rows = [(v.name, v.spec.name, onset, back) for v in vehicles
            for onset, back in zip(v.outages.onset_s, v.outages.back_s, strict=True)]
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS["outages"])).astype(
        {"t_fail_s": float, "t_back_s": float})


def _vehicles_table(vehicles, network, duration_s: float) -> pd.DataFrame:
    attachments = network.attachments
    return pd.DataFrame({
        "vehicle": [v.name for v in vehicles],
        "group": [v.spec.name for v in vehicles],
        "accelerator": [v.spec.accelerator for v in vehicles],
        "precision": [v.spec.precision for v in vehicles],
        "inference_latency_s": [v.inference.latency_s for v in vehicles],
        "throttled_latency_s": [v.throttled.latency_s if v.throttled else np.nan for v in vehicles],
        "inference_energy_j": [v.inference.energy_j for v in vehicles],
        "inference_layers_s": [v.inference.layers_s for v in vehicles],
        "inference_overhead_s": [v.inference.overhead_s for v in vehicles],
        "inference_transfer_s": [v.inference.transfer_s for v in vehicles],
        "inference_host_s": [v.inference.fallback_s for v in vehicles],
        "final_model_version": [v.model_version for v in vehicles],
        "samples_queued_at_end": [len(v.samples) for v in vehicles],
        "samples_evicted": [v.samples.evicted for v in vehicles],
        "radio_energy_j": network.radio.joules.copy(),
        "handovers": [a.handovers for a in attachments],
        "coverage_gap_s": [a.time_in(GAP, duration_s) for a in attachments],
        "handover_s": [a.time_in(HANDOVER, duration_s) for a in attachments],
    })


def _servers_table(offloading, duration_s: float) -> pd.DataFrame:
    sites = offloading.all_sites() if offloading is not None else []
    return pd.DataFrame([(s.name, s.kind, s.accelerator, s.servers, s.cost.latency_s, s.arrived, s.served,
                          s.dropped, s.busy_s, s.busy_s / (s.servers * duration_s), s.energy_j(duration_s))
                         for s in sites], columns=list(TABLE_COLUMNS["inference_servers"])).astype(
        {"servers": "int64", "frames_arrived": "int64", "frames_served": "int64", "frames_dropped": "int64",
         "inference_latency_s": float, "busy_s": float, "utilisation": float, "energy_j": float})


def _histogram_table(ledger: FrameLedger) -> pd.DataFrame:
    """The ledger's latency histograms (every leg, and total) as rows of non-empty bins."""
    legs = {**ledger.leg_histograms, "total": ledger.histograms}
    parts = []
    for g, group in enumerate(ledger.layout.group_names):
        for leg, hist in legs.items():
            bins = np.flatnonzero(hist[g])
            low, high = bin_edges(bins)
            parts.append(pd.DataFrame({
                "group": group, "leg": leg, "latency_low_s": low, "latency_high_s": high,
                "frames": hist[g][bins].astype(np.int64)}))
    return pd.concat(parts, ignore_index=True)[list(TABLE_COLUMNS["latency_histogram"])]


def build_results(scenario: Scenario, catalog: Catalog, ledger: FrameLedger, log: EventLog, vehicles,
                  at_horizon: dict, detection, network, offloading, shipped_map50: dict | None,
                  wall_s: float) -> Results:
    """Assemble tables and the summary once the run has finished."""
    tables = {
        name: log.frame(name, list(columns))
        for name, columns in TABLE_COLUMNS.items()
        if name not in ("vehicle_windows", "vehicles", "outages", "frames", "sample_conditions",
                        "latency_legs", "inference_servers", "latency_histogram", *DETECTION_COLUMNS)
    }
    store, labeling, tables["sample_conditions"] = store_figures(tables)
    accuracy = AccuracyRecord(detection.records, detection.found, detection.objects)
    tables["detections"] = accuracy.table(ledger.layout.vehicle_names, ledger.layout.group_names,
                                          ledger.layout.group)
    tables["accuracy_windows"] = accuracy.windows(scenario.outputs.accuracy_window,
                                                  scenario.simulation.duration)
    tables["vehicle_windows"] = ledger.vehicle_windows()
    tables["vehicles"] = _vehicles_table(vehicles, network, scenario.simulation.duration)
    tables["outages"] = _outages_table(vehicles)
    tables["latency_legs"] = ledger.latency_legs()
    tables["latency_histogram"] = _histogram_table(ledger)
    tables["inference_servers"] = _servers_table(offloading, scenario.simulation.duration)
    frames = ledger.frames()
    if frames is not None:
        tables["frames"] = frames
    groups = ledger.layout.group_names
    summary = frame_figures(ledger, None, ledger.histograms.sum(axis=0))
    jobs = tables["training_jobs"]
    swaps = tables["model_swaps"]
    summary["faults"] = fault_figures(vehicles, scenario.simulation.duration)
    summary["samples"] = {
        "selected": int(tables["detections"]["selected"].sum()),
        "uploaded": at_horizon["samples_uploaded"],
        "in_flight": at_horizon["samples_in_flight"],
        "queued": int(sum(len(v.samples) for v in vehicles)),
        "evicted": int(sum(v.samples.evicted for v in vehicles)),
        **store,
    }
    summary["labeling"] = {"labeler": scenario.cloud.labeling.labeler.kind, **labeling}
    summary["accuracy"] = accuracy.summary()
    summary["accuracy"]["staleness_s"] = _staleness_s(tables["detections"], tables["model_versions"])
    summary["network"] = {k: at_horizon[k] for k in (
        "uploaded_bytes", "downloaded_bytes", "upload_in_flight_bytes", "download_in_flight_bytes",
        "retransmitted_bytes", "restarted_bytes", "transfers")}
    vehicles_table = tables["vehicles"]
    summary["network"]["handovers"] = int(vehicles_table["handovers"].sum())
    summary["network"]["coverage_gap_s"] = float(vehicles_table["coverage_gap_s"].sum())
    summary["energy"]["radio_j"] = float(vehicles_table["radio_energy_j"].sum())
    summary["energy"]["remote_inference_j"] = float(tables["inference_servers"]["energy_j"].sum())
    offboard = offloading.offboard_bytes() if offloading is not None else {}
    summary["privacy"] = {"offboard_frame_bytes": float(sum(offboard.values()))}
    summary["offload"] = {"no_path_frames": sum(offloading.no_path_frames.values()) if offloading else 0}
    summary["retraining"] = {
        "jobs": len(jobs),
        **_job_states(tables["training_events"]),
        "models_released": at_horizon["model_versions_released"],
        "models_rejected": int((~tables["model_versions"]["deployed"].astype(bool)).sum())
        if len(tables["model_versions"]) else 0,
        "skipped_over_budget": len(tables["skipped_jobs"]),
        "deployments": int(swaps.loc[~swaps["rollback"].astype(bool), "to_version"].nunique())
        if len(swaps) else 0,
        "rollbacks": int((tables["rollouts"]["decision"] == "rollback").sum()),
        **_recovery(scenario, shipped_map50, tables, len(vehicles)),
        "vehicle_swaps": len(swaps),
    }
    summary["run"] = {
        "scenario": scenario.name,
        "seed": scenario.simulation.seed,
        "mode": scenario.simulation.mode,
        "sim_s": scenario.simulation.duration,
        "wall_s": wall_s,
    }
    summary["groups"] = _group_figures(ledger, groups, vehicles)
    summary["hardware"], group_hardware = hardware_figures(scenario, catalog)
    radio = vehicles_table.groupby("group", sort=False)["radio_energy_j"].sum()
    for name, spec in zip(groups, scenario.fleet.groups, strict=True):
        summary["groups"][name]["energy"]["radio_j"] = float(radio.get(name, 0.0))
        summary["groups"][name]["placement"] = spec.placement
        summary["groups"][name]["privacy"] = {"offboard_frame_bytes": float(offboard.get(name, 0.0))}
        summary["groups"][name]["hardware"] = group_hardware[name]
    return Results(scenario=scenario, summary=summary, tables=tables)
