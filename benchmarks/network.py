"""Transfers simulated per second of wall time for many vehicles uploading at once, beside
the vectorised frame path's frames per second measured in the same run.

The vehicles drive the quickstart's routes (5G, LTE, coverage gaps, depot WiFi, handovers)
and all upload a batch of samples on the same one-minute clock the simulation's uploads
use, so ``--vehicles`` flows start together and share the cells max-min fairly.

    .venv/bin/python benchmarks/network.py [--vehicles 1000] [--minutes 10]
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import simpy

from benchmarks.frame_path import frames_per_second, scenario
from fleetsim.edge.uploads import next_tick
from fleetsim.hardware.catalog import load_catalog
from fleetsim.network.build import build_network
from fleetsim.network.topology import UP
from fleetsim.paths import scenario_file
from fleetsim.scenario.loader import load_scenario

UPLOAD_BYTES = 10 * 200e3  # ten 200 kB samples
INTERVAL_S = 60.0


def transfers_per_second(vehicles: int, minutes: float) -> tuple[float, int, float]:
    catalog = load_catalog()
    base = load_scenario(scenario_file("quickstart"), catalog)
    base = base.model_copy(update={"simulation": base.simulation.model_copy(
        update={"duration": minutes * 60})})
    groups = base.fleet.groups
    fleet = [SimpleNamespace(name=f"v{i:05d}", spec=groups[i % len(groups)], local_index=i)
             for i in range(vehicles)]
    env = simpy.Environment()
    started = time.perf_counter()
    network = build_network(env, base, catalog.technologies, fleet, scenario_file("quickstart").parent)

    def uploader(v: int):
        while env.now < base.simulation.duration:
            yield network.transfer(v, UP, UPLOAD_BYTES, base.cloud.region)
            yield env.timeout(next_tick(env.now, INTERVAL_S) - env.now)

    for v in range(vehicles):
        env.process(uploader(v))
    env.run(until=base.simulation.duration)
    network.finish()
    wall = time.perf_counter() - started
    done = int(network.bytes_delivered[UP] // UPLOAD_BYTES)
    return done / wall, done, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vehicles", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    transfers_per_second(10, 0.1)  # warm-up: imports and catalog loading
    rate, done, wall = transfers_per_second(args.vehicles, args.minutes)
    fps, frames = frames_per_second(scenario(20, args.minutes, "vectorised"))
    print(f"vehicles={args.vehicles} sim_min={args.minutes} transfers={done} wall_s={wall:.1f}")
    print(f"network_transfers_per_s={rate:,.0f} frame_path_fps={fps:,.0f} (frames={frames}, 20 vehicles)")


if __name__ == "__main__":
    main()
