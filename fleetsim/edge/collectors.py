"""What the edge contributes to a run's results: frames, vehicles and uploads, detections, offloading.

Each collector gives its tables (``tables()``) and then its summary figures
(``summary(tables)``, which may read the other collectors' tables); ``fleetsim.results``
merges them and checks them against the data dictionary (``fleetsim.metrics.columns``).
A collector is made at the horizon, before the run finishes its pending frames, and notes
then what only stood at the horizon.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fleetsim.edge.facade import Fleet
from fleetsim.edge.offload import Offloading
from fleetsim.memory import give_back_freed_memory
from fleetsim.metrics.columns import TABLE_COLUMNS
from fleetsim.metrics.events import EventLog
from fleetsim.metrics.ledger import FrameLedger, bin_edges
from fleetsim.metrics.summary import fault_figures, frame_figures
from fleetsim.network.coverage import GAP, HANDOVER
from fleetsim.network.flows import FlowNetwork


class FrameResults:
    """The frame ledger's tables and the frames, latency, energy and faults sections (fleet and groups)."""

    def __init__(self, ledger: FrameLedger, fleet: Fleet):
        self.ledger = ledger
        self.vehicles = fleet.vehicles

    def tables(self) -> dict[str, pd.DataFrame]:
        ledger = self.ledger
        tables = {"vehicle_windows": ledger.vehicle_windows(), "latency_legs": ledger.latency_legs(),
                  "latency_histogram": _histogram_table(ledger)}
        frames = self.ledger.frames()
        if frames is not None:
            tables["frames"] = frames
        return tables

    def summary(self, tables: dict[str, pd.DataFrame]) -> dict:
        ledger, duration_s = self.ledger, self.ledger.duration_s
        summary = frame_figures(ledger, None, ledger.histograms.sum(axis=0))
        summary["faults"] = fault_figures(self.vehicles, duration_s)
        summary["groups"] = {}
        for g, name in enumerate(ledger.layout.group_names):
            members = np.flatnonzero(ledger.layout.group == g)
            group = frame_figures(ledger, members, ledger.histograms[g])
            group["faults"] = fault_figures([self.vehicles[i] for i in members], duration_s)
            summary["groups"][name] = group
        return summary


class VehicleResults:
    """Per-vehicle end state, outages and uploads; samples on vehicles, radio energy and coverage."""

    def __init__(self, fleet: Fleet, network: FlowNetwork, log: EventLog):
        self.vehicles = fleet.vehicles
        self.network = network
        self.log = log
        self.duration_s = fleet.clock.end_s
        self.in_flight = sum(v.samples_in_flight for v in self.vehicles)  # at the horizon

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"uploads": self.log.frame("uploads", list(TABLE_COLUMNS["uploads"])),
                "vehicles": _vehicles_table(self.vehicles, self.network, self.duration_s),
                "outages": _outages_table(self.vehicles)}

    def summary(self, tables: dict[str, pd.DataFrame]) -> dict:
        vehicles = tables["vehicles"]
        radio = vehicles.groupby("group", sort=False)["radio_energy_j"].sum()
        groups = {name: {"energy": {"radio_j": float(radio.get(name, 0.0))}}
                  for name in dict.fromkeys(v.spec.name for v in self.vehicles)}
        return {
            "samples": {
                "selected": int(tables["detections"]["selected"].sum()),
                "in_flight": self.in_flight,
                "queued": int(sum(len(v.samples) for v in self.vehicles)),
                "evicted": int(sum(v.samples.evicted for v in self.vehicles)),
            },
            "network": {"handovers": int(vehicles["handovers"].sum()),
                        "coverage_gap_s": float(vehicles["coverage_gap_s"].sum())},
            "energy": {"radio_j": float(vehicles["radio_energy_j"].sum())},
            "groups": groups,
        }


class DetectionResults:
    """The frames really detected: their table, mAP over time, and the accuracy section."""

    def __init__(self, fleet: Fleet, ledger: FrameLedger, accuracy_window_s: float):
        self.detection = fleet.detection
        self.layout = ledger.layout
        self.window_s = accuracy_window_s
        self.duration_s = fleet.clock.end_s
        self.accuracy: dict | None = None

    def tables(self) -> dict[str, pd.DataFrame]:
        detection, layout = self.detection, self.layout
        record = detection.take_record()
        tables = {"detections": record.table(layout.vehicle_names, layout.group_names, layout.group),
                  "accuracy_windows": record.windows(self.window_s, self.duration_s)}
        self.accuracy = record.summary()  # its mAPs now: the ranking is let go before the other tables
        del record
        give_back_freed_memory()  # the ranking and the windows' temporaries
        return tables

    def summary(self, tables: dict[str, pd.DataFrame]) -> dict:
        accuracy = dict(self.accuracy)
        accuracy["staleness_s"] = _staleness_s(tables["detections"], tables["model_versions"])
        return {"accuracy": accuracy, "run": {"detection_wait_s": self.detection.waited_s}}


class OffloadResults:
    """Remote inference servers, and what offloading costs in energy and privacy."""

    def __init__(self, offloading: Offloading | None, fleet: Fleet, placements: dict[str, dict]):
        self.offloading = offloading
        self.duration_s = fleet.clock.end_s
        self.placements = placements  # group name -> placement at the start, seconds in each

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"inference_servers": _servers_table(self.offloading, self.duration_s)}

    def summary(self, tables: dict[str, pd.DataFrame]) -> dict:
        offloading = self.offloading
        offboard = offloading.offboard_bytes() if offloading is not None else {}
        return {
            "energy": {"remote_inference_j": float(tables["inference_servers"]["energy_j"].sum())},
            "privacy": {"offboard_frame_bytes": float(sum(offboard.values()))},
            "offload": {"no_path_frames": sum(offloading.no_path_frames.values()) if offloading else 0,
                        **remote_cost(tables["inference_servers"])},
            "groups": {name: {**placed,
                              "privacy": {"offboard_frame_bytes": float(offboard.get(name, 0.0))}}
                       for name, placed in self.placements.items()},
        }


def remote_cost(servers: pd.DataFrame) -> dict:
    """offload.remote_inference_usd (None when a pool's accelerator has no hourly price) and
    offload.unpriced_servers, those accelerators."""
    unpriced = sorted(set(servers.loc[servers["cost_usd"].isna(), "accelerator"]))
    return {"remote_inference_usd": None if unpriced else float(servers["cost_usd"].sum()),
            "unpriced_servers": unpriced}


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
    return pd.DataFrame([(s.name, s.kind, s.accelerator, s.servers, s.latency_s, s.arrived, s.served,
                          s.dropped, s.busy_s, s.busy_s / (s.servers * duration_s), s.energy_j(duration_s),
                          s.cost_usd(duration_s))
                         for s in sites], columns=list(TABLE_COLUMNS["inference_servers"])).astype(
        {"servers": "int64", "frames_arrived": "int64", "frames_served": "int64", "frames_dropped": "int64",
         "inference_latency_s": float, "busy_s": float, "utilisation": float, "energy_j": float,
         "cost_usd": float})


def _histogram_table(ledger: FrameLedger) -> pd.DataFrame:
    """The ledger's latency histograms (every leg, and total) as rows of non-empty bins, group by
    group, leg by leg."""
    legs = {**ledger.leg_histograms, "total": ledger.histograms}
    counts = np.stack(list(legs.values()), axis=1)  # (groups, legs, bins)
    group, leg, bins = np.nonzero(counts)
    low, high = bin_edges(bins)
    return pd.DataFrame({
        "group": np.array(ledger.layout.group_names, dtype=object)[group],
        "leg": np.array(list(legs), dtype=object)[leg], "latency_low_s": low, "latency_high_s": high,
        "frames": counts[group, leg, bins].astype(np.int64)})[list(TABLE_COLUMNS["latency_histogram"])]
