"""Latency sections: where each group's time goes (by leg), and latency CDFs with deadlines."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from fleetsim.metrics import plots
from fleetsim.report.html import Section, cell, figure, note, plain, table
from fleetsim.report.run_folder import RunFolder

LEG_ORDER = ("capture", "queue", "preprocess", "transfer", "send_queue", "uplink", "remote_queue",
             "inference", "downlink", "postprocess", "handoff")
"""Legs in the order a frame passes them (onboard: capture, queue, preprocess, transfer, inference,
postprocess, handoff)."""
LEG_LABELS = {
    "capture": "camera readout", "queue": "processing queue", "preprocess": "pre-processing (host)",
    "transfer": "host-accelerator transfer", "send_queue": "send queue (vehicle)",
    "uplink": "uplink (frame)",
    "remote_queue": "remote queue", "inference": "inference", "downlink": "downlink (detections)",
    "postprocess": "post-processing (host)", "handoff": "result hand-off",
}
NOT_MODELLED = ("Not modelled, so not shown: exposure and the ISP. A frame's latency starts at its capture "
                "time; the capture leg is its readout over the camera link. Onboard, post-processing that "
                "the accelerator hands to the host CPU is its own leg; on a CPU it is inside inference; the "
                "modelled split below says how much of an onboard call runs on the host CPU.")
SPLIT_PARTS = [("inference_layers_s", "layers"), ("inference_overhead_s", "call + layer overheads"),
               ("inference_transfer_s", "host-link transfer"),
               ("inference_host_s", "host CPU (unsupported layers, post-processing)")]


def _ordered_legs(legs: pd.DataFrame) -> list[str]:
    seen = [leg for leg in legs["leg"].unique() if leg != "total"]
    return [leg for leg in LEG_ORDER if leg in seen] + [leg for leg in seen if leg not in LEG_ORDER]


def _breakdown_figure(legs: pd.DataFrame, order: list[str]):
    """One panel per group, each on its own millisecond axis: groups whose latencies differ 100x
    stay readable (a shared axis hides the fast ones)."""
    groups = list(legs["group"].unique())
    means = legs.pivot_table(index="group", columns="leg", values="mean_s", sort=False).reindex(groups) * 1e3
    fig, axes = plt.subplots(len(groups), 1, figsize=(9, 0.85 * len(groups) + 1.2), squeeze=False)
    colours = dict(zip(order, plt.cm.tab10.colors * 2, strict=False))
    for ax, group in zip(axes[:, 0], groups, strict=True):
        left = 0.0
        for leg in order:
            value = float(means.loc[group, leg]) if leg in means and pd.notna(means.loc[group, leg]) else 0.0
            ax.barh([0], [value], left=left, color=colours[leg], label=LEG_LABELS.get(leg, leg))
            left += value
        ax.set_yticks([0], [group])
        ax.set_xlim(0, left * 1.12 if left > 0 else 1.0)
        ax.annotate(f"{plain(left, 3)} ms", (left, 0), xytext=(4, 0), textcoords="offset points",
                    va="center", fontsize=8)
        ax.grid(True, axis="x", alpha=0.3)
        ax.tick_params(axis="x", labelsize=8)
    axes[-1, 0].set_xlabel("mean time per processed frame (ms); each group on its own scale")
    handles = {h.get_label(): h for ax in axes[:, 0] for h in ax.containers}
    fig.legend(list(handles.values()), list(handles), fontsize=8, loc="upper center",
               ncol=min(len(handles), 3), bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / (0.85 * len(groups) + 1.2) * (1 + (len(handles) - 1) // 3)))
    return fig


def _legs_table(legs: pd.DataFrame, order: list[str]) -> str:
    rank = {leg: i for i, leg in enumerate([*order, "total"])}
    rows = []
    for group, part in legs.groupby("group", sort=False):
        for r in sorted(part.itertuples(), key=lambda r: rank[r.leg]):
            rows.append([cell(group), cell(LEG_LABELS.get(r.leg, r.leg)), cell(int(r.frames)),
                         cell(float(r.mean_s) * 1e3, f"latency_legs.{group}.{r.leg}.mean"),
                         *(cell(v * 1e3, f"latency_legs.{group}.{r.leg}.{name}")
                           for name, v in (("p50", r.p50_s), ("p95", r.p95_s), ("p99", r.p99_s)))])
    return table(["group", "leg", "frames", "mean (ms)", "p50 (ms)", "p95 (ms)", "p99 (ms)"], rows)


def _split_table(run: RunFolder) -> str:
    vehicles = run.table("vehicles")
    if vehicles is None or not all(c in vehicles for c, _ in SPLIT_PARTS):
        return note("This run's vehicles table has no modelled split of the inference call "
                    "(written by an older fleetsim).")
    onboard = [g for g, fig in run.summary.get("groups", {}).items() if fig.get("placement") == "onboard"]
    rows = []
    for group, part in vehicles[vehicles["group"].isin(onboard)].groupby("group", sort=False):
        first = part.iloc[0]
        rest = first["inference_latency_s"] - sum(first[c] for c, _ in SPLIT_PARTS)
        rows.append([cell(group), cell(first["accelerator"]), cell(first["precision"]),
                     cell(first["inference_latency_s"] * 1e3),
                     *(cell(first[c] * 1e3) for c, _ in SPLIT_PARTS), cell(max(rest, 0.0) * 1e3)])
    if not rows:
        return ""
    return ("<h3>Modelled split of one onboard inference call</h3>"
            + table(["group", "accelerator", "precision", "call (ms)", *(f"{h} (ms)" for _, h in SPLIT_PARTS),
                     "weight streaming + context switches (ms)"], rows)
            + note("From the hardware model (fleetsim.hardware.inference) at full speed; thermally "
                   "throttled frames take longer. The inference leg above is what the frames measured."))


def _servers_table(run: RunFolder) -> str:
    servers = run.table("inference_servers")
    if servers is None or not len(servers):
        return ""
    rows = [[cell(r.site), cell(r.kind), cell(r.accelerator), cell(int(r.servers)),
             cell(r.inference_latency_s * 1e3), cell(int(r.frames_arrived)), cell(int(r.frames_served)),
             cell(int(r.frames_dropped)), cell(float(r.utilisation)), cell(float(r.energy_j))]
            for r in servers.itertuples()]
    return ("<h3>Remote inference servers</h3>"
            + table(["site", "kind", "accelerator", "servers", "inference (ms)", "arrived", "served",
                     "dropped", "utilisation", "energy (J)"], rows))


def breakdown_section(run: RunFolder) -> Section:
    """Stacked mean time per leg, percentiles per leg, and the modelled split of an inference."""
    legs = run.table("latency_legs")
    if legs is None or not len(legs):
        return Section("latency-breakdown", "Latency breakdown by stage",
                       note("This run has no latency_legs table (written by an older fleetsim, or no "
                            "frame was processed)."))
    order = _ordered_legs(legs)
    body = (figure(_breakdown_figure(legs, order), "Mean time per processed frame in each leg, one panel "
                   "per group, each on its own scale (see the axis). The legs of every frame add up to its "
                   "latency, so a bar adds up to the group's mean latency; percentiles do not add.")
            + note(NOT_MODELLED) + _legs_table(legs, order) + _split_table(run) + _servers_table(run))
    return Section("latency-breakdown", "Latency breakdown by stage", body)


def cdf_section(run: RunFolder) -> Section:
    """Latency CDF per group from the saved histograms, with deadlines and the late share."""
    histogram = run.table("latency_histogram")
    if histogram is None:
        return Section("latency-cdf", "Latency CDFs", note(
            "This run has no latency_histogram table (written by an older fleetsim): rerun it to get "
            "latency CDFs. The percentiles above come from summary.json."))
    deadlines = run.deadlines_s()
    ax = plots.latency_cdf({"": (histogram, deadlines)}, f"{run.summary['run']['scenario']}: latency CDF")
    rows = []
    for name, fig in run.summary.get("groups", {}).items():
        frames = fig["frames"]
        late = frames["late"] / frames["processed"] if frames["processed"] else None
        rows.append([cell(name), cell(deadlines[name] * 1e3 if name in deadlines else None),
                     cell(frames["processed"]), cell(late), cell(fig["latency_ms"]["deadline_miss_rate"])])
    return Section("latency-cdf", "Latency CDFs", figure(
        ax.figure, "Fraction of processed frames detected within a latency (log scale), per group; "
                   "dotted lines: the group's deadline.")
        + table(["group", "deadline (ms)", "processed", "late / processed",
                 "miss rate (late + dropped + failed) / generated"], rows))
