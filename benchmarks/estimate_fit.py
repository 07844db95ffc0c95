"""How close ``fleetsim.estimate`` comes: each shipped scenario's short cut (the digests'
``SHORT_DURATION_S``), run in its own subprocess, against its estimate.

    .venv/bin/python -m benchmarks.estimate_fit [--duration 2400]

One line per scenario: frames and detections (estimated / counted), peak memory
(estimated / the child's peak RSS) and host time (estimated / ``run.wall_s`` plus the
process's start-up). These are the runs the estimate's constants were fitted on.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from fleetsim.digests import SHORT_DURATION_S, shipped_scenarios

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
                          "peak_bytes": guess.peak_bytes}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=SHORT_DURATION_S, help="Simulated seconds at most.")
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    for path in shipped_scenarios():
        out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(args.duration)], cwd=root,
                             capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        r = json.loads(out)
        e = r["est"]
        print(f"{path.relative_to(root)}: frames {e['frames']:,.0f}/{r['frames']:,} "
              f"detections {e['detected']:,.0f}/{r['detected']:,} "
              f"peak {e['peak_bytes'] / 2**20:,.0f}/{r['peak_bytes'] / 2**20:,.0f} MiB "
              f"wall {e['wall_s']:.1f}/{r['wall_s']:.1f} s (simulation {r['sim_wall_s']:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
