"""Frames per second of the vectorised per-frame path against the one-event-per-frame
reference, on the same scenario in the same run, as a ratio (target issue 22: >= 100x at 100
vehicles for 5 minutes). ``--profile N`` adds the N largest costs of one more vectorised run
(cProfile, by own time; work on the frame threads shows as the main thread's lock waits).

    .venv/bin/python -m benchmarks.frame_path [--vehicles 100] [--minutes 5] [--profile 25]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import fleetsim
from benchmarks.host import host_line
from fleetsim.hardware.catalog import load_catalog
from fleetsim.paths import scenario_file
from fleetsim.scenario.loader import load_scenario
from fleetsim.scenario.models import Scenario


def scenario(vehicles: int, minutes: float, mode: str) -> Scenario:
    data = load_scenario(scenario_file("quickstart"), load_catalog()).model_dump(mode="json")
    data["simulation"].update(duration=f"{minutes} min", mode=mode)
    groups = data["fleet"]["groups"]
    total = sum(g["count"] for g in groups)
    for g in groups:
        g["count"] = max(1, round(g["count"] * vehicles / total))
    data["outputs"]["plots"] = False
    data["detector"]["detect_every"] = 10**9  # time the per-frame path, not real detection
    return Scenario.model_validate(data)


def frames_per_second(s: Scenario) -> tuple[float, int]:
    started = time.perf_counter()
    results = fleetsim.run(s)
    wall = time.perf_counter() - started
    return results.summary["frames"]["generated"] / wall, results.summary["frames"]["generated"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vehicles", type=int, default=100)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    args = parser.parse_args()
    before = host_line()
    frames_per_second(scenario(args.vehicles, 0.1, "vectorised"))  # warm-up: imports and hardware fits,
    # which are cached per process and would otherwise be charged to whichever mode runs first
    fast, n = frames_per_second(scenario(args.vehicles, args.minutes, "vectorised"))
    ref, _ = frames_per_second(scenario(args.vehicles, args.minutes, "reference"))
    print(before)
    print(f"frames={n} vehicles={args.vehicles} sim_min={args.minutes}")
    print(f"vectorised_fps={fast:,.0f} reference_fps={ref:,.0f} ratio={fast / ref:.1f}x (target >= 100x)")
    print(host_line().replace("host:", "host after:"))
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(frames_per_second, scenario(args.vehicles, args.minutes, "vectorised"))
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)


if __name__ == "__main__":
    main()
