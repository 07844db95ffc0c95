"""Over-the-air rollout: a canary first, then the fleet; downloads in chunks; rollback.

A released version goes to the canary vehicles (``canary_fraction`` of the fleet, chosen
by the seed). After ``canary_period`` the canary's ``canary_signal`` with the new model
(mAP@0.5 of its detected frames against ground truth, or mean detection confidence) is
compared with the rest of the fleet's over the same span: a drop of more than
``max_regression`` rolls the canary back at once (vehicles keep the previous model, so no
download is needed) and withdraws the version; otherwise, or without evidence either way,
the rest of the fleet downloads it.

Chunks are fetched one after another. A chunk that loses the network pauses; if the
pause outlasts ``cloud.rollout.resume_timeout`` the chunk starts over when the network
returns (completed chunks are kept), and the thrown-away progress is counted.
"""

from __future__ import annotations

import math

import numpy as np
import simpy

from fleetsim.edge.fleet import Vehicle
from fleetsim.metrics.events import EventLog
from fleetsim.network.flows import FlowNetwork
from fleetsim.network.topology import DOWN
from fleetsim.rng import counter_uniform

BYTES_PER_PARAM = {"int8": 1, "fp16": 2, "bf16": 2, "fp32": 4}
"""Model payload per weight at each precision (derived: params x bytes per value)."""


def download_and_swap(env: simpy.Environment, vehicle: Vehicle, network: FlowNetwork, region: str,
                      version: int, size: float, rollout, perception, log: EventLog, duration_s: float,
                      withdrawn: set[int] = frozenset()):
    """Download ``size`` bytes of ``version``; switch to it if it is newer than the current one
    and has not been withdrawn meanwhile."""
    started = env.now
    left, chunks, restarts, paused = size, 0, 0, 0.0
    while left > 0:
        part = min(rollout.chunk_size, left)
        result = yield network.transfer(vehicle.index, DOWN, part, region,
                                        restart_after_s=rollout.resume_timeout)
        left -= part
        chunks += 1
        restarts += result.restarts
        paused += result.paused_s
    if env.now >= duration_s or version <= vehicle.model_version or version in withdrawn:
        return
    swap(vehicle, version, perception, log, env.now, rollback=False, started=started, size=size,
         chunks=chunks, restarts=restarts, paused=paused)


def swap(vehicle: Vehicle, version: int, perception, log: EventLog, now: float, rollback: bool,
         started: float, size: float = 0.0, chunks: int = 0, restarts: int = 0, paused: float = 0.0):
    """Switch ``vehicle`` to ``version`` at ``now`` (frames before it ran the old model)."""
    perception.advance_to(now)
    previous = vehicle.model_version
    vehicle.model_version = version
    log.record("model_swaps", vehicle=vehicle.name, group=vehicle.spec.name,
               from_version=previous, to_version=version, rollback=rollback, t_download_start_s=started,
               t_swap_s=now, bytes=size, chunks=chunks, chunk_restarts=restarts, paused_s=paused)


class StagedRollout:
    """Canary first, then the fleet, or a rollback; remembers withdrawn versions."""

    def __init__(self, env: simpy.Environment, vehicles: list[Vehicle], settings, canary_key: np.uint64,
                 start_download, signal, catch_up, perception, log: EventLog, duration_s: float):
        self.env = env
        self.vehicles = vehicles
        self.settings = settings
        self.start_download = start_download  # (vehicle, version) -> starts its download process
        self.signal = signal  # (t0, t1, vehicles, version) -> the canary signal (NaN without frames)
        self.catch_up = catch_up
        self.perception = perception
        self.log = log
        self.duration_s = duration_s
        n = len(vehicles)
        fraction = settings.canary_fraction
        staged = 0 < fraction < 1 and n > 1
        count = min(n - 1, max(1, math.ceil(fraction * n))) if staged else n
        order = np.argsort(counter_uniform(canary_key, np.arange(n)), kind="stable")
        self.canary = np.sort(order[:count])
        self.rest = np.sort(order[count:])
        self.withdrawn: set[int] = set()
        self.rollbacks = 0

    def release(self, version: int, previous: int, on_rollback):
        """SimPy process: roll ``version`` out, falling back to ``previous`` on a regression."""
        released = self.env.now
        for i in self.canary:
            self.start_download(self.vehicles[i], version)
        if len(self.rest) == 0:
            return
        yield self.env.timeout(self.settings.canary_period)
        if self.env.now >= self.duration_s:
            return
        self.catch_up(self.env.now)
        canary = self.signal(released, self.env.now, self.canary, version)
        fleet = self.signal(released, self.env.now, self.rest, None)
        regressed = bool(canary < fleet * (1 - self.settings.max_regression))
        self.log.record("rollouts", version=version, t_release_s=released, t_decision_s=self.env.now,
                        canary_vehicles=len(self.canary), signal=self.settings.canary_signal,
                        canary_score=canary, fleet_score=fleet,
                        decision="rollback" if regressed else "fleet")
        if regressed:
            self.rollbacks += 1
            self.withdrawn.add(version)
            for i in self.canary:
                vehicle = self.vehicles[i]
                if vehicle.model_version == version:
                    swap(vehicle, previous, self.perception, self.log, self.env.now, rollback=True,
                         started=self.env.now)
            on_rollback(version)
            return
        for i in self.rest:
            self.start_download(self.vehicles[i], version)
