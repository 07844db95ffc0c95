"""Print the retraining-cadence study's table (markdown) from its runs' summary.json files.

    for s in never periodic drift periodic_tpu drift_tpu; do
        fleetsim run scenarios/retraining_cadence/$s.yaml --out out/retraining_cadence/$s
    done
    python scenarios/retraining_cadence/table.py [OUT_DIR]   # default out/retraining_cadence

Plain Python (json + pathlib), no fleetsim import. Run wall time is the only column that
differs between identical runs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ORDER = ["never", "periodic", "drift", "periodic_tpu", "drift_tpu"]
CONDITIONS = [("day_clear", "day"), ("dusk_clear", "dusk"), ("night_clear", "night"), ("day_fog", "fog"),
              ("day_clear_novel", "novel")]


def _num(x, fmt: str) -> str:
    return "n/a" if x is None else format(x, fmt)


def _hours(seconds) -> str:
    return "n/a" if seconds is None else f"{seconds / 3600:.2f} h"


def row(name: str, s: dict, device: str) -> list[str]:
    acc, rt, lab = s["accuracy"], s["retraining"], s["labeling"]
    by = acc["map50_by_condition"]
    return [
        name, device,
        _num(acc["map50_mean"], ".3f"),
        *(_num(by.get(c), ".3f") for c, _ in CONDITIONS),
        f"{rt['jobs']}", f"{rt['deployments']}", f"{rt['models_rejected']}", f"{rt['rollbacks']}",
        _num(rt["cloud_kwh"], ".4f"), _num(rt["cloud_cost_usd"], ".3f"), _num(lab["cost_usd"], ".2f"),
        f"{rt['recovered']}/{rt['drift_onsets']}", _hours(rt["time_to_recover_s"]),
        _hours(acc["staleness_s"]), f"{s['run']['wall_s']:.0f} s",
    ]


def _device(run: Path) -> str:
    """The training device, read from the resolved scenario without a YAML parser."""
    text = (run / "scenario.resolved.yaml").read_text()
    if "kind: never" in text:
        return "-"
    after = text.split("\n  clusters:\n", 1)[-1]
    for line in after.splitlines():
        if line.strip().startswith("device:"):
            return line.split(":", 1)[1].strip()
    return "?"


def main(out: Path) -> None:
    header = ["scenario", "trains on", "mAP@0.5", *(f"{label} mAP" for _, label in CONDITIONS), "jobs",
              "deployed", "rejected", "rolled back", "cloud kWh", "cloud USD", "labelling USD",
              "recovered / onsets", "mean time to recover", "mean model age", "wall"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    names = [n for n in ORDER if (out / n / "summary.json").exists()]
    names += sorted(p.parent.name for p in out.glob("*/summary.json") if p.parent.name not in ORDER)
    for name in names:
        summary = json.loads((out / name / "summary.json").read_text())
        print("| " + " | ".join(row(name, summary, _device(out / name))) + " |")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("out/retraining_cadence"))
