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
    ("energy.edge_j", "edge energy: accelerators and host CPUs (J)"),
    ("energy.accelerator_j", "of which accelerators (J)"),
    ("energy.host_j", "of which host CPUs (J)"),
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
    ("hardware.accelerator_usd", "of which accelerators (USD)"),
    ("hardware.host_usd", "of which host computers (USD)"),
]
"""Headline rows: summary.json key and label; a key the run's summary lacks is left out."""

GROUP_TABLES: list[tuple[str, list[tuple[str, str]]]] = [
    ("Frames and latency", [
        ("placement", "placement"),
        ("frames.generated", "frames"),
        ("frames.dropped", "dropped"),
        ("frames.failed", "failed"),
        ("frames.late", "late"),
        ("latency_ms.p50", "p50 (ms)"),
        ("latency_ms.p95", "p95 (ms)"),
        ("latency_ms.p99", "p99 (ms)"),
        ("latency_ms.deadline_miss_rate", "miss rate"),
    ]),
    ("Energy and hardware cost: accelerator and host apart", [
        ("hardware.host_cpu", "host computer"),
        ("energy.accelerator_j", "accelerator (J)"),
        ("energy.host_j", "host CPU (J)"),
        ("energy.radio_j", "radio (J)"),
        ("energy.per_frame_mj", "edge per frame (mJ)"),
        ("hardware.accelerator_usd", "accelerators (USD)"),
        ("hardware.host_usd", "hosts (USD)"),
        ("hardware.fleet_usd", "total (USD)"),
    ]),
]
"""Per-group tables: title and columns (key under groups.<name>, header with its unit)."""
DERIVED = {"energy.accelerator_j": "not in summary.json: energy.edge_j - energy.host_j"}
"""Keys a page computes from the summary rather than reads."""


def lookup(figures: dict, key: str) -> object:
    """The value at a dotted ``key`` of a summary (or of :data:`DERIVED`); KeyError if a part is
    missing."""
    if key in DERIVED:
        return lookup(figures, "energy.edge_j") - lookup(figures, "energy.host_j")  # type: ignore[operator]
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
    body = intro + table(["figure", "value"], rows)
    if missing:
        body += note(f"This run's summary.json has no {', '.join(missing)} (written by an older fleetsim).")
    absent = run.missing_tables()
    if absent:
        body += note(f"This run folder has no {', '.join(absent)} table(s) (an older fleetsim, or a folder "
                     "holding the summary only): the sections that use them say what they cannot show.")
    body += group_tables([((name,), g, f"groups.{name}") for name, g in s.get("groups", {}).items()])
    return Section("summary", "Summary", body)


def group_tables(rows: list[tuple[tuple[str, ...], dict, str]], headers: tuple[str, ...] = ("group",)) -> str:
    """The per-group tables of :data:`GROUP_TABLES`, each with the columns some group has; a row
    is (its label cells, the group's figures, the data-key prefix of its cells)."""
    body = ""
    for title, columns in GROUP_TABLES:
        shown = [(k, h) for k, h in columns if any(present(g, k) for _, g, _ in rows)]
        if not shown:
            continue
        cells = [[cell(label) for label in labels]
                 + [cell(lookup(g, k) if present(g, k) else None, None if k in DERIVED else f"{prefix}.{k}")
                    for k, _ in shown] for labels, g, prefix in rows]
        body += f"<h3>Vehicle groups: {title[0].lower()}{title[1:]}</h3>" + table(
            [*headers, *(h for _, h in shown)], cells)
    return body
