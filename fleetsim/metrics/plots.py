"""PNG plots of a run: latency CDF per group; uploads and model versions; accuracy over time."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

RUN_STYLES = ("-", "--", "-.", (0, (5, 2, 1, 2)))
"""Line style of each run where several share a plot, so lines that coincide stay visible."""


def latency_cdf(runs: dict[str, tuple[pd.DataFrame, dict[str, float]]], title: str, ax=None):
    """Empirical CDF of processed-frame latency per vehicle group, with deadlines (dotted).

    ``runs`` maps a run label ("" for a single run) to its latency_histogram table and its
    groups' deadlines in seconds.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    for i, (run, (table, deadlines)) in enumerate(runs.items()):
        total = table[table["leg"] == "total"].sort_values("latency_low_s")
        for name, rows in total.groupby("group", sort=False):
            cdf = np.concatenate([[0.0], np.cumsum(rows["frames"].to_numpy()) / rows["frames"].sum()])
            edges = np.concatenate([rows["latency_low_s"].to_numpy()[:1], rows["latency_high_s"].to_numpy()])
            line, = ax.step(edges * 1e3, cdf, where="post", label=f"{run}: {name}" if run else name,
                            linestyle=RUN_STYLES[i % len(RUN_STYLES)], linewidth=1.6 if i == 0 else 1.2)
            if name in deadlines:
                ax.axvline(deadlines[name] * 1e3, color=line.get_color(), linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("capture-to-detection latency (ms); dotted: deadline")
    ax.set_ylabel("fraction of processed frames")
    ax.set_ylim(0, 1.01)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(title="run: group" if any(runs) else "vehicle group", fontsize=8, loc="upper left",
              bbox_to_anchor=(1.01, 1.0))
    ax.set_title(title)
    return ax


def uploads_and_versions(tables: dict, scenario, axes=None):
    """Top: cumulative uploaded MB. Bottom: share of the fleet on each model version."""
    if axes is None:
        _, axes = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    unit, label = time_axis(scenario.simulation.duration)
    duration = scenario.simulation.duration / unit
    uploads = tables["uploads"].sort_values("t_end_s")
    t = np.concatenate([[0.0], uploads["t_end_s"].to_numpy() / unit, [duration]])
    mb = np.cumsum(np.concatenate([[0.0], uploads["bytes"].to_numpy() / 1e6]))
    axes[0].step(t, np.append(mb, mb[-1]), where="post")
    axes[0].set_ylabel("uploaded (MB)")
    axes[0].grid(True, alpha=0.3)
    axes[0].set_title(f"{scenario.name}: uploads and model versions")
    fleet = sum(g.count for g in scenario.fleet.groups)
    swaps = tables["model_swaps"].sort_values("t_swap_s")
    versions = sorted(set(swaps["to_version"]) | {0})
    for version in versions:
        into = swaps["to_version"] == version
        out = swaps["from_version"] == version
        times = np.concatenate([[0.0], swaps["t_swap_s"].to_numpy() / unit, [duration]])
        delta = into.astype(int).to_numpy() - out.astype(int).to_numpy()
        start = fleet if version == 0 else 0
        share = (start + np.concatenate([[0], np.cumsum(delta)])) / fleet
        axes[1].step(times, np.append(share, share[-1]), where="post", label=f"v{version}")
    axes[1].set_ylabel("share of fleet")
    axes[1].set_xlabel(label)
    axes[1].set_ylim(-0.02, 1.02)
    axes[1].grid(True, alpha=0.3)
    axes[1].legend(title="model", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return axes


_CONDITION_COLOURS = {"day": "#fff3c4", "dusk": "#f6c9a0", "night": "#9aa6c8"}
_WEATHER_HATCH = {"rain": "///", "fog": "...", "snow": "xxx"}
_NOVEL_HATCH = "oo"


def _band(condition: str) -> tuple[str, str | None]:
    """Face colour (time of day) and hatch (weather, novel objects) of a condition label."""
    time_of_day, weather = condition.split("_")[:2]
    hatch = _WEATHER_HATCH.get(weather, "") + (_NOVEL_HATCH if condition.endswith("_novel") else "")
    return _CONDITION_COLOURS[time_of_day], hatch or None


def time_axis(duration_s: float) -> tuple[float, str]:
    """Seconds per plotted time unit and its axis label: minutes for runs under an hour, hours
    from an hour on (every plot of a run uses the same unit)."""
    return (60.0, "simulated time (min)") if duration_s < 3600 else (3600.0, "simulated time (h)")


def conditions_by_group(detections: pd.DataFrame, windows: pd.DataFrame) -> dict[str, list[str]]:
    """Each group's most frequent condition label in each accuracy window ('' where it detected
    nothing), from the detections table: conditions differ by region (fog on the highway only)."""
    edges = np.append(windows["t_start_s"].to_numpy(), windows["t_end_s"].to_numpy()[-1:])
    window = np.clip(np.searchsorted(edges, detections["t_capture_s"].to_numpy(), side="right") - 1,
                     0, len(windows) - 1)
    counts = (detections.assign(window=window).groupby(["group", "window", "condition"], sort=True)
              .size().rename("n").reset_index().sort_values(["group", "window", "n"], kind="stable"))
    top = counts.groupby(["group", "window"]).tail(1).set_index(["group", "window"])["condition"]
    groups = list(dict.fromkeys(detections["group"]))
    return {g: [top.get((g, w), "") for w in range(len(windows))] for g in groups}


def _bands(ax, spans, y: tuple[float, float] | None = None) -> None:
    for t0, t1, condition in spans:
        if not condition:
            continue
        colour, hatch = _band(condition)
        if y is None:
            ax.axvspan(t0, t1, facecolor=colour, lw=0, edgecolor="grey", hatch=hatch, alpha=0.8)
        else:
            ax.broken_barh([(t0, t1 - t0)], y, facecolors=colour, edgecolor="grey", lw=0, hatch=hatch)


def accuracy_over_time(tables: dict, ax=None, title: str = "mAP@0.5 over time"):
    """mAP@0.5 per accuracy window, each version's first switch (red dashed) and canary rollbacks
    (grey dotted), and the world's conditions: one strip per vehicle group below when the
    detections table says where each group drove (else fleet-wide bands behind). Returns the
    mAP axes."""
    windows = tables["accuracy_windows"]
    detections = tables.get("detections")
    by_group = (conditions_by_group(detections, windows)
                if ax is None and detections is not None and len(detections) and len(windows) else {})
    if ax is None and by_group:
        _, (ax, strips) = plt.subplots(2, 1, figsize=(9, 4.2 + 0.3 * len(by_group)), sharex=True,
                                       gridspec_kw={"height_ratios": [4, 0.35 * len(by_group) + 0.2]})
    elif ax is None:
        _, ax = plt.subplots(figsize=(9, 4))
    unit, label = time_axis(float(windows["t_end_s"].max()) if len(windows) else 0.0)
    t0, t1 = windows["t_start_s"].to_numpy() / unit, windows["t_end_s"].to_numpy() / unit
    if by_group:
        for i, conditions in enumerate(by_group.values()):
            _bands(strips, zip(t0, t1, conditions, strict=True), (i - 0.4, 0.8))
        strips.set_yticks(range(len(by_group)), list(by_group), fontsize=8)
        strips.set_ylim(len(by_group) - 0.5, -0.5)
        strips.set_xlabel(label)
        strips.set_title("conditions each group drove in (most frequent per window)", fontsize=8)
        shown = {c for conditions in by_group.values() for c in conditions if c}
    else:
        _bands(ax, zip(t0, t1, windows["condition"], strict=True))
        ax.set_xlabel(label)
        shown = {c for c in windows["condition"] if c}
    centre = (t0 + t1) / 2
    ax.plot(centre, windows["map50"], marker="o", color="black", label="fleet mAP@0.5")
    swaps = tables["model_swaps"]
    rollback = swaps["rollback"].astype(bool)
    for version, t in swaps[~rollback].groupby("to_version")["t_swap_s"].min().items():
        ax.axvline(t / unit, color="tab:red", ls="--", lw=1)
        ax.annotate(f"v{version}", (t / unit, 1.0), color="tab:red", fontsize=8, ha="left", va="top")
    for version, t in swaps[rollback].groupby("from_version")["t_swap_s"].min().items():
        ax.axvline(t / unit, color="grey", ls=":", lw=1.5)
        ax.annotate(f"v{version} rolled back", (t / unit, 0.93), color="grey", fontsize=7, ha="left",
                    va="top")
    for condition in sorted(shown):
        colour, hatch = _band(condition)
        ax.fill_between([], [], facecolor=colour, edgecolor="grey", hatch=hatch, label=condition)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("mAP@0.5 of detected frames")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="conditions", title_fontsize=7)
    ax.set_title(title)
    return ax


def save_all(results, folder: Path) -> None:
    """Write every plot of ``results`` as PNG into ``folder``."""
    ax = results.plot_latency_cdf()
    ax.figure.savefig(folder / "latency_cdf.png", dpi=110, bbox_inches="tight")
    plt.close(ax.figure)
    axes = results.plot_uploads_and_versions()
    axes[0].figure.savefig(folder / "uploads_and_versions.png", dpi=110, bbox_inches="tight")
    plt.close(axes[0].figure)
    ax = results.plot_accuracy()
    ax.figure.savefig(folder / "accuracy_over_time.png", dpi=110, bbox_inches="tight")
    plt.close(ax.figure)
