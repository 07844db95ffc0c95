"""The energy section: edge accelerators, radios, remote inference servers and cloud training."""

from __future__ import annotations

import matplotlib.pyplot as plt

from fleetsim.report.html import Section, cell, figure, note, table
from fleetsim.report.run_folder import RunFolder
from fleetsim.report.summary import lookup, present

PARTS: list[tuple[str, str, str]] = [
    ("energy.edge_j", "edge accelerators", "idle power over the whole run plus the extra while serving "
     "frames, host CPU fallback included"),
    ("energy.radio_j", "vehicle radios", "promotions, connected power, energy per bit, tails: uploads, "
     "model downloads and offloaded frames"),
    ("energy.remote_inference_j", "remote inference", "MEC and cloud inference servers, idle power over "
     "the run included"),
    ("retraining.cloud_energy_j", "cloud training", "facility energy (with PUE) of completed training jobs"),
]
"""summary.json key, label and what it counts, for each part of the run's energy."""
J_PER_KWH = 3.6e6


def fleet_parts(run: RunFolder) -> dict[str, float]:
    """Label -> joules for each energy part the run's summary has."""
    return {label: float(lookup(run.summary, key)) for key, label, _ in PARTS if present(run.summary, key)}


def _figure(run: RunFolder, parts: dict[str, float]):
    groups = run.summary.get("groups", {})
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [1, 1.3]})
    bars = left.bar(list(parts), [v / 1e3 for v in parts.values()], color=plt.cm.tab10.colors[:len(parts)])
    left.bar_label(bars, labels=[f"{v / 1e3:,.3g}" for v in parts.values()], fontsize=8)
    left.set_ylabel("energy over the run (kJ)")
    left.set_title("fleet")
    left.tick_params(axis="x", labelrotation=20)
    names = list(groups)
    edge = [groups[g]["energy"]["edge_j"] / 1e3 for g in names]
    radio = [groups[g]["energy"].get("radio_j", 0.0) / 1e3 for g in names]
    right.bar(names, edge, label="edge accelerators", color=plt.cm.tab10.colors[0])
    right.bar(names, radio, bottom=edge, label="vehicle radios", color=plt.cm.tab10.colors[1])
    right.set_title("per vehicle group (vehicle side only)")
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.grid(True, axis="y", alpha=0.3)
    return fig


def section(run: RunFolder) -> Section:
    """Energy by part, for the fleet and per group, with what each part counts."""
    parts = fleet_parts(run)
    total = sum(parts.values())
    rows = [[cell(label), cell(lookup(run.summary, key), key), cell(lookup(run.summary, key) / J_PER_KWH),
             cell(lookup(run.summary, key) / total if total else None), cell(what)]
            for key, label, what in PARTS if present(run.summary, key)]
    rows.append([cell("total"), cell(total), cell(total / J_PER_KWH), cell(1.0 if total else None), cell("")])
    body = figure(_figure(run, parts), "Energy over the run by part (left) and the vehicle-side energy of "
                  "each group (right).") + table(["part", "J", "kWh", "share", "counts"], rows)
    missing = [label for key, label, _ in PARTS if not present(run.summary, key)]
    if missing:
        body += note(f"This run's summary.json has no figure for {', '.join(missing)} (written by an older "
                     "fleetsim).")
    body += note("Remote inference and cloud training energy belong to the whole fleet: the model does not "
                 "split them by group. Labelling costs money (see the summary), not modelled energy.")
    return Section("energy", "Energy breakdown", body)
