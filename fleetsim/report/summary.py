"""The summary section: headline figures of the run and one row per vehicle group."""

from __future__ import annotations

from fleetsim.report.html import Section, cell, note, paragraph, table
from fleetsim.report.run_folder import RunFolder

HEADLINE: list[tuple[str, str]] = [
    ("frames.generated", "frames generated"),
    ("frames.processed", "frames processed"),
    ("frames.dropped", "frames dropped (full queue)"),
    ("frames.failed", "frames failed (outage, no path)"),
    ("frames.late", "frames late (past deadline)"),
    ("latency_ms.p50", "latency p50 (ms)"),
    ("latency_ms.p95", "latency p95 (ms)"),
    ("latency_ms.p99", "latency p99 (ms)"),
    ("latency_ms.mean", "latency mean (ms)"),
    ("latency_ms.max", "latency max (ms)"),
    ("latency_ms.deadline_miss_rate", "deadline miss rate"),
    ("energy.edge_j", "edge accelerator energy (J)"),
    ("energy.per_frame_mj", "edge energy per processed frame (mJ)"),
    ("energy.radio_j", "radio energy (J)"),
    ("energy.remote_inference_j", "remote inference energy (J)"),
    ("retraining.cloud_energy_j", "cloud training energy (J)"),
    ("accuracy.map50_mean", "mAP@0.5 over detected frames"),
    ("accuracy.frames", "detected frames"),
    ("network.uploaded_bytes", "sample upload bytes"),
    ("network.downloaded_bytes", "model download bytes"),
    ("privacy.offboard_frame_bytes", "raw frame bytes offloaded"),
    ("retraining.jobs", "training jobs completed"),
    ("retraining.deployments", "model deployments"),
    ("retraining.rollbacks", "canary rollbacks"),
    ("retraining.cloud_cost_usd", "cloud training cost (USD)"),
    ("labeling.cost_usd", "labelling cost (USD)"),
    ("hardware.fleet_usd", "edge hardware cost (USD)"),
]
"""Headline rows: summary.json key and label; a key the run's summary lacks is left out."""

GROUP_COLUMNS: list[tuple[str, str]] = [
    ("placement", "placement"),
    ("frames.generated", "frames"),
    ("frames.dropped", "dropped"),
    ("frames.failed", "failed"),
    ("frames.late", "late"),
    ("latency_ms.p50", "p50 ms"),
    ("latency_ms.p95", "p95 ms"),
    ("latency_ms.p99", "p99 ms"),
    ("latency_ms.deadline_miss_rate", "miss rate"),
    ("energy.edge_j", "edge J"),
    ("energy.radio_j", "radio J"),
    ("energy.per_frame_mj", "mJ/frame"),
    ("privacy.offboard_frame_bytes", "offloaded bytes"),
    ("hardware.fleet_usd", "hardware USD"),
]
"""Per-group columns: key under groups.<name> and header."""


def lookup(figures: dict, key: str) -> object:
    """The value at a dotted ``key`` of a summary; KeyError if a part is missing."""
    node: object = figures
    for part in key.split("."):
        node = node[part]  # type: ignore[index]
    return node


def present(figures: dict, key: str) -> bool:
    """Whether the summary has ``key``."""
    try:
        lookup(figures, key)
    except (KeyError, TypeError):
        return False
    return True


def section(run: RunFolder) -> Section:
    """Headline figures, then one row per vehicle group."""
    s = run.summary
    info = s["run"]
    description = run.scenario.get("description", "")
    intro = paragraph(f"Scenario {info['scenario']}, seed {info['seed']}, {info['mode']} mode, "
                      f"{info['sim_s']:,.0f} s simulated in {info['wall_s']:,.1f} s of host time."
                      + (f" {description}" if description else ""))
    rows = [[cell(label), cell(lookup(s, key), key)] for key, label in HEADLINE if present(s, key)]
    missing = [key for key, _ in HEADLINE if not present(s, key)]
    groups = s.get("groups", {})
    group_cols = [(k, h) for k, h in GROUP_COLUMNS if any(present(g, k) for g in groups.values())]
    group_rows = [[cell(name)] + [cell(lookup(g, k) if present(g, k) else None, f"groups.{name}.{k}")
                                  for k, _ in group_cols] for name, g in groups.items()]
    body = intro + table(["figure", "value"], rows)
    if missing:
        body += note(f"This run's summary.json has no {', '.join(missing)} (written by an older fleetsim).")
    absent = run.missing_tables()
    if absent:
        body += note(f"This run folder has no {', '.join(absent)} table(s) (an older fleetsim, or a folder "
                     "holding the summary only): the sections that use them say what they cannot show.")
    body += "<h3>Vehicle groups</h3>" + table(["group"] + [h for _, h in group_cols], group_rows)
    return Section("summary", "Summary", body)
