"""How well the hardware models predict published measurements they were never fitted on.

    .venv/bin/python -m benchmarks.hardware_validation [--json]

Prints, per device and overall, the leave-one-out error on the calibration points and the error on
the validation points (model and pipeline scope), the share within 20 % and every point beyond 2x,
against the targets of issue 16 (validation median |error| <= 20 %, every point within 2x, LOO
median <= 15 %). ``fleetsim hardware validate`` prints the same checks point by point; the guard
rails in tests/test_hardware_validation.py keep the figures from regressing.
"""

from __future__ import annotations

import argparse
import json
import statistics

from fleetsim.hardware.calibration import validate_catalog
from fleetsim.hardware.catalog import load_catalog

TARGETS = {"validation_median_abs_error": 0.20, "validation_worst_ratio": 2.0, "loo_median_abs_error": 0.15}


def _ratio(point: dict) -> float:
    r = point["predicted_ms"] / point["published_ms"]
    return max(r, 1 / r)


def figures() -> dict:
    """Overall scores, per-device validation scores and the points beyond 2x."""
    report = validate_catalog(load_catalog())
    validation = [p for p in report["points"] if p["kind"] == "validation"]
    per_device = {}
    for device in sorted({p["device"] for p in validation}):
        mine = [p for p in validation if p["device"] == device]
        per_device[device] = {"points": len(mine),
                              "median_abs_error": statistics.median(abs(p["error"]) for p in mine),
                              "within_20pct": sum(abs(p["error"]) <= 0.2 for p in mine),
                              "worst_ratio": max(_ratio(p) for p in mine)}
    beyond = [{k: p[k] for k in ("device", "workload", "precision", "scope", "metric", "published_ms",
                                 "predicted_ms")} for p in validation if _ratio(p) > 2]
    overall = report["overall"]
    return {"overall": overall, "within_20pct": sum(abs(p["error"]) <= 0.2 for p in validation),
            "targets": {k: {"target": v, "now": overall[k], "met": overall[k] <= v}
                        for k, v in TARGETS.items()},
            "devices": per_device, "beyond_2x": beyond}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON")
    result = figures()
    if parser.parse_args().json:
        print(json.dumps(result, indent=2))
        return
    o = result["overall"]
    print(f"leave-one-out: {o['loo_points']} points, median |error| {o['loo_median_abs_error']:.1%}, "
          f"worst {o['loo_worst_ratio']:.2f}x")
    print(f"validation: {o['validation_points']} points, "
          f"median |error| {o['validation_median_abs_error']:.1%}, "
          f"{result['within_20pct']} within 20 %, worst {o['validation_worst_ratio']:.2f}x")
    for name, t in result["targets"].items():
        print(f"  target {name} <= {t['target']}: now {t['now']:.3f} ({'met' if t['met'] else 'NOT met'})")
    for device, d in result["devices"].items():
        print(f"  {device:24} {d['points']:3} points  median {d['median_abs_error']:6.1%}  "
              f"within 20 %: {d['within_20pct']:2}  worst {d['worst_ratio']:5.2f}x")
    print("beyond 2x:")
    for p in result["beyond_2x"]:
        print(f"  {p['device']} {p['workload']} {p['precision']} ({p['scope']} {p['metric']}): "
              f"published {p['published_ms']:.2f} ms, predicted {p['predicted_ms']:.2f} ms")


if __name__ == "__main__":
    main()
