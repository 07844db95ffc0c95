"""The energy section: edge accelerators, radios, remote inference servers and cloud training."""

from __future__ import annotations

import matplotlib.pyplot as plt

from fleetsim.report.html import Section, cell, figure, note, plain, table
from fleetsim.report.run_folder import RunFolder
from fleetsim.report.summary import lookup, present

PARTS: list[tuple[str, str, str]] = [
    ("energy.accelerator_j", "edge accelerators", "idle power over the whole run plus the extra while "
     "serving frames"),
    ("energy.host_j", "vehicle host CPUs", "the host computer's power while it runs the layers the "
     "accelerator cannot and post-processing (its idle power is not modelled)"),
    ("energy.radio_j", "vehicle radios", "promotions, connected power, energy per bit, tails: uploads, "
     "model downloads and offloaded frames"),
    ("energy.remote_inference_j", "remote inference", "MEC and cloud inference servers, idle power over "
     "the run included"),
    ("retraining.cloud_energy_j", "cloud training", "facility energy (with PUE) of completed training jobs"),
]
"""summary.json key, label and what it counts, for each part of the run's energy."""
OLDER_EDGE = ("energy.edge_j", "edge accelerators (host CPU included)", "accelerators and the host CPU's "
              "work for them, not apart (written by an older fleetsim)")
"""The edge part of a run written before the host CPU's energy was counted apart."""
J_PER_KWH = 3.6e6


def parts_of(summary: dict) -> list[tuple[str, str, str]]:
    """The parts of :data:`PARTS` for this summary (an older run's edge energy as one part)."""
    if present(summary, "energy.host_j"):
        return PARTS
    return [OLDER_EDGE, *PARTS[2:]]


def fleet_parts(run: RunFolder) -> dict[str, float]:
    """Label -> joules for each energy part the run's summary has."""
    return {label: float(lookup(run.summary, key)) for key, label, _ in parts_of(run.summary)
            if present(run.summary, key)}


def _figure(run: RunFolder, parts: dict[str, float]):
    groups = run.summary.get("groups", {})
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [1, 1.2]})
    colours = dict(zip([label for _, label, _ in PARTS] + [OLDER_EDGE[1]], plt.cm.tab10.colors, strict=False))
    bars = left.bar(list(parts), [v / 1e3 for v in parts.values()], color=[colours[p] for p in parts])
    left.bar_label(bars, labels=[plain(v / 1e3, 3) for v in parts.values()], fontsize=8)
    left.set_ylabel("energy over the run (kJ)")
    left.set_title("fleet, by part")
    left.tick_params(axis="x", labelrotation=25)
    for label in left.get_xticklabels():
        label.set_horizontalalignment("right")
    names = list(groups)
    bottom = [0.0] * len(names)
    for key, label, _ in parts_of(run.summary)[:3]:
        if key == "energy.remote_inference_j":
            break
        values = [lookup(groups[g], key) / 1e3 if present(groups[g], key) else 0.0 for g in names]
        right.bar(names, values, bottom=bottom, label=label, color=colours[label])
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    right.set_ylabel("energy over the run (kJ)")
    right.set_title("per vehicle group (vehicle side)")
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def section(run: RunFolder) -> Section:
    """Energy by part, for the fleet and per group, with what each part counts."""
    parts = fleet_parts(run)
    total = sum(parts.values())
    rows = [[cell(label), cell(lookup(run.summary, key), key), cell(lookup(run.summary, key) / J_PER_KWH),
             cell(lookup(run.summary, key) / total if total else None), cell(what)]
            for key, label, what in parts_of(run.summary) if present(run.summary, key)]
    rows.append([cell("total"), cell(total), cell(total / J_PER_KWH), cell(1.0 if total else None), cell("")])
    body = figure(_figure(run, parts), "Energy over the run by part (left) and the vehicle-side energy of "
                  "each group (right).") + table(["part", "energy (J)", "energy (kWh)", "share of total",
                                                  "counts"], rows)
    missing = [label for key, label, _ in parts_of(run.summary) if not present(run.summary, key)]
    if missing:
        body += note(f"This run's summary.json has no figure for {', '.join(missing)} (written by an older "
                     "fleetsim).")
    body += note("Remote inference and cloud training energy belong to the whole fleet: the model does not "
                 "split them by group. Labelling costs money (see the summary), not modelled energy.")
    return Section("energy", "Energy breakdown", body)
