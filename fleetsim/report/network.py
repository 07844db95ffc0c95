"""The network section: uplink and downlink rates over time, and what crossed the network."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from fleetsim.metrics import plots
from fleetsim.report.html import Section, cell, figure, note, table
from fleetsim.report.run_folder import RunFolder
from fleetsim.report.summary import lookup, present

TIME_BINS = 120
NETWORK_KEYS = [
    ("network.uploaded_bytes", "sample upload bytes delivered"),
    ("network.upload_in_flight_bytes", "upload bytes still in flight at the end"),
    ("network.downloaded_bytes", "model download bytes delivered"),
    ("network.download_in_flight_bytes", "download bytes still in flight at the end"),
    ("network.retransmitted_bytes", "bytes retransmitted after loss"),
    ("network.restarted_bytes", "download progress lost to chunk restarts"),
    ("network.transfers", "transfers started"),
    ("network.handovers", "handovers"),
    ("network.coverage_gap_s", "vehicle-seconds without coverage"),
    ("privacy.offboard_frame_bytes", "raw frame bytes offloaded"),
]


def rate_over_time(start_s: np.ndarray, end_s: np.ndarray, nbytes: np.ndarray,
                   edges: np.ndarray) -> np.ndarray:
    """Mean bit/s in each time bin, each transfer's bytes spread evenly over its duration
    (a transfer of no duration counts in the bin it happens in)."""
    width = np.diff(edges)
    overlap = np.clip(np.minimum(end_s[:, None], edges[None, 1:])
                      - np.maximum(start_s[:, None], edges[None, :-1]), 0.0, None)
    duration = end_s - start_s
    spread = np.divide(nbytes, duration, out=np.zeros(len(nbytes)), where=duration > 0)
    bits = 8 * (overlap * spread[:, None]).sum(axis=0)
    instant = duration <= 0
    np.add.at(bits, np.clip(np.searchsorted(edges, start_s[instant], side="right") - 1, 0, len(width) - 1),
              8 * nbytes[instant])
    return bits / width


def _series(run: RunFolder, edges: np.ndarray) -> dict[str, np.ndarray]:
    out = {}
    uploads = run.table("uploads")
    if uploads is not None:
        for tech, part in uploads.groupby("technology"):
            out[f"uplink: samples over {tech}"] = rate_over_time(
                part["t_start_s"].to_numpy(), part["t_end_s"].to_numpy(), part["wire_bytes"].to_numpy(),
                edges)
    swaps = run.table("model_swaps")
    if swaps is not None and len(swaps):
        out["downlink: model downloads"] = rate_over_time(
            swaps["t_download_start_s"].to_numpy(), swaps["t_swap_s"].to_numpy(), swaps["bytes"].to_numpy(),
            edges)
    return out


def _figure(run: RunFolder, edges: np.ndarray, series: dict[str, np.ndarray], offload: dict[str, float]):
    unit, label = plots.time_axis(run.duration_s)
    fig, ax = plt.subplots(figsize=(9, 3.8))
    colours = iter(plt.cm.tab10.colors * 2)
    for name, rate in series.items():
        ax.step(edges / unit, np.append(rate, rate[-1]) / 1e6, where="post", label=name, color=next(colours))
    for group, nbytes in offload.items():
        ax.axhline(8 * nbytes / run.duration_s / 1e6, ls="--", lw=1.2, color=next(colours),
                   label=f"uplink: {group} offloaded frames (run mean)")
    ax.set_xlabel(label)
    ax.set_ylabel("fleet rate (Mbit/s)")
    ax.set_yscale("symlog", linthresh=0.01)
    peak = max([*(r.max() / 1e6 for r in series.values()),
                *(8 * b / run.duration_s / 1e6 for b in offload.values())])
    ax.set_ylim(0, max(2 * peak, 0.1))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def _transfers_table(run: RunFolder) -> str:
    rows = []
    uploads = run.table("uploads")
    if uploads is not None:
        for tech, p in uploads.groupby("technology"):
            rows.append([cell(f"sample uploads over {tech}"), cell(len(p)), cell(float(p["bytes"].sum())),
                         cell(float(p["wire_bytes"].sum())), cell(float(p["paused_s"].sum()))])
    swaps = run.table("model_swaps")
    if swaps is not None and len(swaps):
        rows.append([cell("model downloads"), cell(len(swaps)), cell(float(swaps["bytes"].sum())), cell(None),
                     cell(float(swaps["paused_s"].sum()))])
    headers = ["transfers", "count", "payload bytes", "bytes on the wire", "paused (s)"]
    return table(headers, rows) if rows else ""


def section(run: RunFolder) -> Section:
    """Rates over time per direction and technology, totals, and what the tables cannot show."""
    edges = np.linspace(0.0, run.duration_s, TIME_BINS + 1)
    series = _series(run, edges)
    offload = {g: fig["privacy"]["offboard_frame_bytes"] for g, fig in run.summary.get("groups", {}).items()
               if fig.get("privacy", {}).get("offboard_frame_bytes")}
    body = ""
    if series or offload:
        body += figure(_figure(run, edges, series, offload), f"Fleet network rate in {TIME_BINS} time bins: "
                       "each completed transfer's bytes spread evenly over its duration (a mean, not the "
                       "instantaneous rate). Offloaded frame streams are shown at their run mean only.")
    else:
        body += note("Nothing crossed the network in this run (no uploads, downloads or offloaded frames).")
    rows = [[cell(label), cell(lookup(run.summary, key), key)] for key, label in NETWORK_KEYS
            if present(run.summary, key)]
    body += table(["figure", "value"], rows) + _transfers_table(run)
    body += note("Per-cell utilisation is not shown: the run's tables do not record which cell carried a "
                 "transfer. Transfers still in flight at the end and the offloaded detections coming back "
                 "are not in the time series; offloaded frames are not recorded over time.")
    return Section("network", "Network utilisation", body)

