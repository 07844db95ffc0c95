"""Runs side by side: headline figures in one table, latency CDFs, energy and accuracy overlaid.

>>> write_comparison(["out/retraining_cadence/never", "out/retraining_cadence/drift"],
...                  "out/compare.html")                                   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from fleetsim.metrics import plots
from fleetsim.report import energy
from fleetsim.report.html import Section, cell, figure, note, page, table
from fleetsim.report.run_folder import RunFolder, load_run
from fleetsim.report.summary import HEADLINE, group_tables, lookup, present
from fleetsim.runfolder import write_text_atomic
from fleetsim.version import __version__


def labels(runs: list[RunFolder]) -> list[str]:
    """A label per run: its folder name, or its path where folder names repeat."""
    names = [r.name for r in runs]
    return [r.name if names.count(r.name) == 1 else str(r.path) for r in runs]


def _headline(runs: dict[str, RunFolder]) -> Section:
    rows = []
    for key, text in HEADLINE:
        if any(present(r.summary, key) for r in runs.values()):
            rows.append([cell(text)] + [cell(lookup(r.summary, key) if present(r.summary, key) else None,
                                             f"{label}/{key}") for label, r in runs.items()])
    scenario = [cell("scenario")] + [cell(r.summary["run"]["scenario"]) for r in runs.values()]
    seed = [cell("seed")] + [cell(r.summary["run"]["seed"]) for r in runs.values()]
    group_rows = [((label, name), g, f"{label}/groups.{name}")
                  for label, r in runs.items() for name, g in r.summary.get("groups", {}).items()]
    body = table(["figure", *runs], [scenario, seed, *rows]) + group_tables(group_rows, ("run", "group"))
    return Section("summary", "Headline figures", body)


def _latency(runs: dict[str, RunFolder]) -> Section:
    have = {label: (r.table("latency_histogram"), r.deadlines_s()) for label, r in runs.items()
            if r.table("latency_histogram") is not None}
    missing = [label for label in runs if label not in have]
    body = ""
    if have:
        ax = plots.latency_cdf(have, "latency CDFs")
        body += figure(ax.figure, "Latency CDF of every group of every run (one line style per run); "
                       "dotted lines: deadlines.")
        curves = {f"{label}: {name}": rows.sort_values("latency_low_s")[["latency_low_s", "frames"]]
                  for label, (hist, _) in have.items()
                  for name, rows in hist[hist["leg"] == "total"].groupby("group", sort=False)}
        body += _coinciding(curves, "latency CDFs")
    if missing:
        body += note(f"No latency_histogram table (written by an older fleetsim) in: {', '.join(missing)}.")
    return Section("latency-cdf", "Latency CDFs", body)


def _coinciding(curves: dict, what: str) -> str:
    """A note naming the curves that are identical (their lines hide each other), or ''."""
    same: dict[bytes, list[str]] = {}
    for name, frame in curves.items():
        same.setdefault(pd.util.hash_pandas_object(frame.reset_index(drop=True)).to_numpy().tobytes(),
                        []).append(name)
    groups = [names for names in same.values() if len(names) > 1]
    if not groups:
        return ""
    return note(f"Identical {what}, drawn on top of each other: "
                + "; ".join(" = ".join(names) for names in groups) + ".")


def _energy(runs: dict[str, RunFolder]) -> Section:
    parts = {label: energy.fleet_parts(r) for label, r in runs.items()}
    names = list(dict.fromkeys(p for run_parts in parts.values() for p in run_parts))
    fig, ax = plt.subplots(figsize=(9, 3.8))
    width = 0.8 / len(runs)
    for i, (label, run_parts) in enumerate(parts.items()):
        ax.bar(np.arange(len(names)) + (i - (len(runs) - 1) / 2) * width,
               [run_parts.get(n, np.nan) / 1e3 or np.nan for n in names], width, label=label)
    ax.set_xticks(np.arange(len(names)), names, rotation=20, ha="right")
    ax.set_title("energy by part")
    ax.set_ylabel("energy over the run (kJ)")
    ax.set_yscale("log")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    rows = [[cell(n)] + [cell(parts[label].get(n)) for label in runs] for n in names]
    return Section("energy", "Energy breakdown", figure(fig, "Energy by part, one bar per run (log scale; "
                   "no bar: the part is 0 in that run, or the run has no figure for it).")
                   + table(["part (J)", *runs], rows))


def _accuracy(runs: dict[str, RunFolder]) -> Section:
    fig, ax = plt.subplots(figsize=(9, 4))
    unit, xlabel = plots.time_axis(max(r.duration_s for r in runs.values()))
    without, curves = [], {}
    for i, (label, r) in enumerate(runs.items()):
        windows = r.table("accuracy_windows")
        if windows is None or not windows["map50"].notna().any():
            without.append(label)
            continue
        curves[label] = windows[["t_start_s", "map50"]]
        line, = ax.plot((windows["t_start_s"] + windows["t_end_s"]) / (2 * unit), windows["map50"],
                        marker="o", ms=3, label=label, linestyle=plots.RUN_STYLES[i % len(plots.RUN_STYLES)])
        swaps = r.table("model_swaps")
        if swaps is not None and len(swaps):
            for t in swaps[~swaps["rollback"].astype(bool)].groupby("to_version")["t_swap_s"].min():
                ax.axvline(t / unit, color=line.get_color(), ls="--", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("mAP@0.5 of detected frames")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title("mAP@0.5 over time")
    body = figure(fig, "Fleet mAP@0.5 per accuracy window of each run (one line style per run); vertical "
                  "dashed lines in a run's colour: a model version's first vehicle switch in that run. Each "
                  "run's conditions are in its own report.") + _coinciding(curves, "accuracy curves")
    if without:
        body += note(f"No accuracy over time (no accuracy_windows table or no detected frame) in: "
                     f"{', '.join(without)}.")
    return Section("accuracy", "Accuracy over time", body)


def comparison_html(runs: list[RunFolder]) -> str:
    """The comparison page of ``runs`` as HTML text."""
    named = dict(zip(labels(runs), runs, strict=True))
    sections = [_headline(named), _latency(named), _energy(named), _accuracy(named)]
    return page(f"fleetsim comparison of {len(runs)} runs", f"Runs: {', '.join(str(r.path) for r in runs)}; "
                f"page written by fleetsim {__version__}.", sections)


def write_comparison(run_dirs: list[str | Path], out: str | Path) -> Path:
    """Write the comparison of the runs in ``run_dirs`` to ``out``.

    Raises:
        RunFolderError: one of ``run_dirs`` is not a run folder.
    """
    runs = [load_run(d) for d in run_dirs]
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(target, comparison_html(runs))
    return target
