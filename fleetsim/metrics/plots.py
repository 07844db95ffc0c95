"""PNG plots of a run: latency CDF per group; uploads and model versions; accuracy over time."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from fleetsim.metrics.ledger import BINS_PER_DECADE, LOG10_MIN_S, N_BINS  # noqa: E402

_BIN_UPPER_MS = 10 ** (LOG10_MIN_S + (np.arange(N_BINS) + 1) / BINS_PER_DECADE) * 1e3


def latency_cdf(histograms: dict, scenario, ax=None):
    """Empirical CDF of processed-frame latency per vehicle group, with deadlines."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    deadlines = {g.name: g.deadline for g in scenario.fleet.groups}
    for name, counts in histograms.items():
        total = counts.sum()
        if total == 0:
            continue
        used = np.flatnonzero(counts)
        lo, hi = used[0], used[-1] + 1
        cdf = np.concatenate([[0.0], np.cumsum(counts[lo:hi]) / total])
        edges = np.concatenate([[_BIN_UPPER_MS[lo] / 10 ** (1 / BINS_PER_DECADE)],
                                _BIN_UPPER_MS[lo:hi]])
        line, = ax.step(edges, cdf, where="post", label=name)
        ax.axvline(deadlines[name] * 1e3, color=line.get_color(), linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("capture-to-detection latency (ms); dotted: deadline")
    ax.set_ylabel("fraction of processed frames")
    ax.set_ylim(0, 1.01)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(title="vehicle group")
    ax.set_title(f"{scenario.name}: latency CDF")
    return ax


def uploads_and_versions(tables: dict, scenario, axes=None):
    """Top: cumulative uploaded MB. Bottom: share of the fleet on each model version."""
    if axes is None:
        _, axes = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    duration_h = scenario.simulation.duration / 3600
    uploads = tables["uploads"].sort_values("t_end_s")
    t = np.concatenate([[0.0], uploads["t_end_s"].to_numpy() / 3600, [duration_h]])
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
        times = np.concatenate([[0.0], swaps["t_swap_s"].to_numpy() / 3600, [duration_h]])
        delta = into.astype(int).to_numpy() - out.astype(int).to_numpy()
        start = fleet if version == 0 else 0
        share = (start + np.concatenate([[0], np.cumsum(delta)])) / fleet
        axes[1].step(times, np.append(share, share[-1]), where="post", label=f"v{version}")
    axes[1].set_ylabel("share of fleet")
    axes[1].set_xlabel("simulated time (h)")
    axes[1].set_ylim(-0.02, 1.02)
    axes[1].grid(True, alpha=0.3)
    axes[1].legend(title="model", ncol=min(len(versions), 6))
    return axes


_CONDITION_COLOURS = {"day": "#fff3c4", "dusk": "#f6c9a0", "night": "#9aa6c8"}
_WEATHER_HATCH = {"rain": "///", "fog": "...", "snow": "xxx"}


def accuracy_over_time(tables: dict, ax=None):
    """mAP@0.5 per accuracy window, with condition bands behind and model switches as lines."""
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4))
    windows = tables["accuracy_windows"]
    for row in windows.itertuples():
        if not row.condition:
            continue
        time_of_day, weather = row.condition.split("_")[:2]
        ax.axvspan(row.t_start_s / 60, row.t_end_s / 60, facecolor=_CONDITION_COLOURS[time_of_day], lw=0,
                   edgecolor="grey", hatch=_WEATHER_HATCH.get(weather), alpha=0.8)
    centre = (windows["t_start_s"] + windows["t_end_s"]) / 120
    ax.plot(centre, windows["map50"], marker="o", color="black", label="fleet mAP@0.5")
    swaps = tables["model_swaps"]
    for version, t in swaps.groupby("to_version")["t_swap_s"].min().items():
        ax.axvline(t / 60, color="tab:red", ls="--", lw=1)
        ax.annotate(f"v{version}", (t / 60, 1.0), color="tab:red", fontsize=8, ha="left", va="top")
    labels = sorted({c for c in windows["condition"] if c})
    for label in labels:
        time_of_day, weather = label.split("_")[:2]
        ax.fill_between([], [], facecolor=_CONDITION_COLOURS[time_of_day], edgecolor="grey",
                        hatch=_WEATHER_HATCH.get(weather), label=label)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("simulated time (min)")
    ax.set_ylabel("mAP@0.5 of detected frames")
    ax.legend(fontsize=7, loc="lower left", ncol=2)
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
