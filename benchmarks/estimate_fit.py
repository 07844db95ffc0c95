"""How close ``fleetsim.estimate`` comes: each shipped scenario's short cut (the digests'
``SHORT_DURATION_S``), run in its own subprocess, against its estimate.

    .venv/bin/python -m benchmarks.estimate_fit [--duration 2400] [--fit]

One line per scenario: frames and detections (estimated / counted), peak memory
(estimated / the child's peak RSS) and host time (estimated / ``run.wall_s`` plus the
process's start-up). These are the runs the estimate's constants were fitted on. ``--fit``
also runs the full quickstart and two of ``benchmarks.fleet_day``'s fleets (its timing run:
10,000 vehicles' frames for 10 minutes, none detected; 20 vehicles for 8 hours, retrained
every 2), and prints the host-time terms fitted on every run (least squares on the relative
error, each term at least 0): run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml
from scipy.optimize import nnls

from benchmarks.fleet_day import day_scenario, timing_scenario
from fleetsim.digests import SHORT_DURATION_S, shipped_scenarios
from fleetsim.estimate import HOST_TERMS

CHILD = """
import json, resource, sys, time
start = time.perf_counter()
import fleetsim
from fleetsim.estimate import estimate
from fleetsim.hardware.catalog import load_catalog
from fleetsim.scenario.loader import load_scenario
catalog = load_catalog()
scenario = load_scenario(sys.argv[1], catalog)
if scenario.simulation.duration > float(sys.argv[2]):
    scenario = scenario.model_copy(update={"simulation": scenario.simulation.model_copy(
        update={"duration": float(sys.argv[2])})})
guess = estimate(scenario)
summary = fleetsim.run(scenario, catalog=catalog).summary
print(json.dumps({"frames": summary["frames"]["generated"], "detected": summary["frames"]["detected"],
                  "wall_s": time.perf_counter() - start, "sim_wall_s": summary["run"]["wall_s"],
                  "peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "est": {"frames": guess.frames, "detected": guess.detections, "wall_s": guess.wall_s,
                          "peak_bytes": guess.peak_bytes, "host_features": guess.host_features,
                          "sim_s": guess.duration_s}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=SHORT_DURATION_S, help="Simulated seconds at most.")
    parser.add_argument("--fit", action="store_true", help="Also run the full quickstart and two of "
                        "fleet_day's fleets, and fit the estimate's host-time terms on every run.")
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    measured = []
    with tempfile.TemporaryDirectory() as built:
        runs = [(path, args.duration) for path in shipped_scenarios()]
        if args.fit:
            runs += _fit_runs(root, Path(built))
        for path, duration in runs:
            out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(duration)], cwd=root,
                                 capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            r = json.loads(out)
            measured.append(r)
            e = r["est"]
            name = path.relative_to(root) if path.is_relative_to(root) else path.stem
            print(f"{name}, {e['sim_s'] / 60:g} min: frames {e['frames']:,.0f}/{r['frames']:,} "
                  f"detections {e['detected']:,.0f}/{r['detected']:,} "
                  f"peak {e['peak_bytes'] / 2**20:,.0f}/{r['peak_bytes'] / 2**20:,.0f} MiB "
                  f"wall {e['wall_s']:.1f}/{r['wall_s']:.1f} s (simulation {r['sim_wall_s']:.1f} s)",
                  flush=True)
    if args.fit:
        features = np.array([r["est"]["host_features"] for r in measured])
        wall = np.array([r["wall_s"] for r in measured])
        terms, _ = nnls(features / wall[:, None], np.ones(len(wall)))
        ratio = features @ terms / wall
        fitted = ", ".join(f"{n} = {t:.2g}" for n, t in zip(HOST_TERMS, terms, strict=True))
        print(f"host-time terms: {fitted}; estimate / measured {ratio.min():.2f}-{ratio.max():.2f}")


def _fit_runs(root: Path, folder: Path) -> list[tuple[Path, float]]:
    """The runs ``--fit`` adds, whole: the quickstart, and fleet_day's fleets written to ``folder``."""
    runs = [(root / "scenarios" / "quickstart.yaml", float("inf"))]
    for name, scenario in (("fleet_day_timing", timing_scenario(10_000, 10.0)),
                           ("fleet_day_8h", day_scenario(20, 8.0, "2 h"))):
        path = folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False))
        runs.append((path, float("inf")))
    return runs


if __name__ == "__main__":
    main()
