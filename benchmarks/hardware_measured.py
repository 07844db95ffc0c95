"""The per-layer model against this project's own measurements of one CPU (issue 16, items 1-2).

Reads the committed points of a measured device (``hardware_models/measurements/<id>.csv`` and
its per-node file, written by ``fleetsim hardware measure``) and prints:

- leave-one-workload-out: the device fitted on every other workload's points (both precisions),
  this workload predicted, per workload and precision; target median |error| <= 15 %;
- per op class: the time the fitted per-layer model gives each class (conv, pointwise,
  depthwise conv, pooling, resize, element-wise, matmul, ...) against ORT's per-node times,
  summed over the workloads, per precision. Node times are wall times on a shared machine, so
  each workload's are scaled to sum to its measured model time (CPU time) before they are
  compared: the shares are measured, the total is the point's;
- per workload: measured, fitted in-sample and left-out time, and the largest class miss.

No timing is made here: the figures come from the committed files, so it runs anywhere.

    .venv/bin/python benchmarks/hardware_measured.py [--device amd_epyc_avx512_vnni] [--json]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from fleetsim.hardware.calibrate import leave_one_workload_out, median_abs_error, worst_factor
from fleetsim.hardware.catalog import load_catalog
from fleetsim.hardware.fit import device_fit
from fleetsim.hardware.per_layer import COMPARED_CLASSES, predicted_by_class, read_measured

TARGET_LOO = 0.15


def class_table(device_id: str) -> dict:
    """Measured and predicted seconds per op class, summed over workloads, per precision."""
    catalog = load_catalog()
    device = catalog.device(device_id)
    fit = device_fit(device, catalog)
    measured = read_measured(catalog.root / "measurements" / f"{device_id}.csv")
    table: dict = {}
    per_workload: dict = {}
    for (workload, precision), total in sorted(measured.model_s.items()):
        nodes = measured.nodes_s.get((workload, precision), {})
        scale = total / sum(nodes.values()) if nodes else 0.0
        predicted = predicted_by_class(device, fit, workload, precision, catalog)
        rows = table.setdefault(precision, {})
        for op_class in [*COMPARED_CLASSES, "call"]:
            m, p = nodes.get(op_class, 0.0) * scale, predicted.get(op_class, 0.0)
            if m or p:
                row = rows.setdefault(op_class, {"measured_ms": 0.0, "predicted_ms": 0.0, "ratios": []})
                row["measured_ms"] += m * 1e3
                row["predicted_ms"] += p * 1e3
                if m and p:
                    row["ratios"].append(p / m)
        misses = {c: predicted.get(c, 0.0) - nodes.get(c, 0.0) * scale for c in COMPARED_CLASSES}
        worst = max(misses, key=lambda c: abs(misses[c]))
        per_workload[(workload, precision)] = {
            "measured_ms": total * 1e3, "predicted_ms": sum(predicted.values()) * 1e3,
            "largest_class_miss": worst, "largest_class_miss_ms": misses[worst] * 1e3}
    for rows in table.values():
        for row in rows.values():
            ratios = row.pop("ratios")
            row["median_workload_ratio"] = float(np.median(ratios)) if ratios else None
            row["ratio_of_totals"] = row["predicted_ms"] / row["measured_ms"] if row["measured_ms"] else None
    return {"classes": table, "workloads": per_workload}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="amd_epyc_avx512_vnni")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    catalog = load_catalog()
    held = leave_one_workload_out(catalog.device(args.device), catalog)
    classes = class_table(args.device)
    loo = {"median_abs_error": median_abs_error(held), "worst_ratio": worst_factor(held),
           "points": len(held), "target": TARGET_LOO}
    if args.json:
        print(json.dumps({"loo": loo, "held_out": [vars(h) for h in held], "classes": classes["classes"],
                          "workloads": {f"{w} {p}": v for (w, p), v in classes["workloads"].items()}},
                         indent=2))
        return
    print(f"{args.device}: leave-one-workload-out over {loo['points']} points: median |error| "
          f"{loo['median_abs_error']:.1%} (target <= {TARGET_LOO:.0%}), worst {loo['worst_ratio']:.2f}x")
    by_key = {(h.workload, h.precision): h for h in held}
    print(f"\n{'workload':30} {'prec':5} {'measured':>9} {'fitted':>9} {'left out':>9} {'LOO err':>8}  "
          "largest class miss (fitted)")
    for (workload, precision), row in classes["workloads"].items():
        h = by_key[workload, precision]
        print(f"{workload:30} {precision:5} {row['measured_ms']:9.2f} {row['predicted_ms']:9.2f} "
              f"{h.predicted_s * 1e3:9.2f} {h.error:+8.0%}  {row['largest_class_miss']} "
              f"{row['largest_class_miss_ms']:+.2f} ms")
    for precision, rows in classes["classes"].items():
        print(f"\nper op class, {precision} (ms summed over workloads; ratio = predicted / measured)")
        print(f"{'class':16} {'measured':>10} {'predicted':>10} {'ratio of totals':>16} {'median ratio':>13}")
        for op_class, row in rows.items():
            totals = "-" if row["ratio_of_totals"] is None else f"{row['ratio_of_totals']:.2f}"
            median = "-" if row["median_workload_ratio"] is None else f"{row['median_workload_ratio']:.2f}"
            print(f"{op_class:16} {row['measured_ms']:10.1f} {row['predicted_ms']:10.1f} {totals:>16} "
                  f"{median:>13}")


if __name__ == "__main__":
    main()
