"""The accuracy section: mAP@0.5 over time with conditions and deployments, and the versions."""

from __future__ import annotations

import pandas as pd

from fleetsim.metrics import plots
from fleetsim.report.html import Section, cell, figure, note, table
from fleetsim.report.run_folder import RunFolder

EMPTY_SWAPS = pd.DataFrame({"to_version": pd.Series(dtype="int64"), "from_version": pd.Series(dtype="int64"),
                            "t_swap_s": pd.Series(dtype=float), "rollback": pd.Series(dtype=bool)})


def _versions_table(run: RunFolder, swaps: pd.DataFrame) -> str:
    versions = run.table("model_versions")
    if versions is None:
        return note("This run has no model_versions table: the versions released are not shown.")
    if not len(versions):
        return note("No model version was released in this run (the shipped model ran throughout).")
    unit, label = plots.time_axis(run.duration_s)
    unit_name = label.split("(")[-1].rstrip(")")
    held_out = [c for c in versions if c.startswith("map50_")]
    switched = swaps[~swaps["rollback"].astype(bool)].groupby("to_version")["t_swap_s"].agg(["count", "min"])
    rows = []
    for r in versions.itertuples():
        first = switched["min"].get(r.version)
        rows.append([cell(int(r.version)), cell(int(r.job)), cell(r.t_release_s / unit),
                     cell("yes" if r.deployed else "no (gate)"), cell(int(r.samples)),
                     cell(float(versions.loc[r.Index, held_out].mean()) if held_out else None),
                     cell(int(switched["count"].get(r.version, 0))),
                     cell(None if first is None else first / unit)])
    return ("<h3>Model versions</h3>" + table(
        ["version", "job", f"released ({unit_name})", "deployed", "samples", "held-out mAP (mean)",
         "vehicle switches", f"first switch ({unit_name})"], rows))


def _conditions_table(run: RunFolder) -> str:
    by_condition = run.summary.get("accuracy", {}).get("map50_by_condition", {})
    rows = [[cell(c), cell(v, f"accuracy.map50_by_condition.{c}")] for c, v in by_condition.items()]
    return "<h3>mAP@0.5 by condition</h3>" + table(["condition", "mAP@0.5"], rows) if rows else ""


def section(run: RunFolder) -> Section:
    """mAP over time (condition bands, deployments, rollbacks) and the model versions."""
    windows = run.table("accuracy_windows")
    swaps = run.table("model_swaps")
    swaps = EMPTY_SWAPS if swaps is None else swaps
    if windows is None or not windows["map50"].notna().any():
        body = note("No accuracy over time: this run has no accuracy_windows table or no detected frame "
                    "with ground truth.")
    else:
        detections = run.table("detections")
        ax = plots.accuracy_over_time({"accuracy_windows": windows, "model_swaps": swaps,
                                       "detections": detections},
                                      title=f"{run.summary['run']['scenario']}: mAP@0.5 over time")
        where = ("one strip per vehicle group below: the condition the group most often drove in during "
                 "the window" if detections is not None and len(detections) else
                 "bands behind: the window's most frequent condition over the fleet (this run has no "
                 "detections table to tell the groups apart)")
        body = figure(ax.figure, "Fleet mAP@0.5 per accuracy window (outputs.accuracy_window). Conditions: "
                      f"{where} (colour: time of day; hatching: weather, circles: novel objects). Red "
                      "dashed: a version's first vehicle switch; grey dotted: a canary rollback.")
    body += _conditions_table(run) + _versions_table(run, swaps)
    rollouts = run.table("rollouts")
    if rollouts is not None and len(rollouts):
        body += "<h3>Canary decisions</h3>" + table(
            ["version", "signal", "canary", "rest of fleet", "decision"],
            [[cell(int(r.version)), cell(r.signal), cell(float(r.canary_score)), cell(float(r.fleet_score)),
              cell(r.decision)] for r in rollouts.itertuples()])
    return Section("accuracy", "Accuracy over time", body)
