"""Over-the-air rollout: each vehicle downloads a new model version in chunks and swaps to it.

Chunks are fetched one after another. A chunk that loses the network pauses; if the
pause outlasts ``cloud.rollout.resume_timeout`` the chunk starts over when the network
returns (completed chunks are kept), and the thrown-away progress is counted.
"""

from __future__ import annotations

import simpy

from fleetsim.edge.fleet import Vehicle
from fleetsim.metrics.events import EventLog
from fleetsim.network.flows import FlowNetwork
from fleetsim.network.topology import DOWN

BYTES_PER_PARAM = {"int8": 1, "fp16": 2, "bf16": 2, "fp32": 4}
"""Model payload per weight at each precision (derived: params x bytes per value)."""


def download_and_swap(env: simpy.Environment, vehicle: Vehicle, network: FlowNetwork, region: str,
                      version: int, size: float, rollout, perception, log: EventLog, duration_s: float):
    """Download ``size`` bytes of ``version``; switch to it if it is newer than the current one."""
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
    if env.now >= duration_s or version <= vehicle.model_version:
        return
    perception.advance_to(env.now)  # frames before the swap ran the old model
    previous = vehicle.model_version
    vehicle.model_version = version
    log.record("model_swaps", vehicle=vehicle.name, group=vehicle.spec.name,
               from_version=previous, to_version=version, t_download_start_s=started,
               t_swap_s=env.now, bytes=size, chunks=chunks, chunk_restarts=restarts, paused_s=paused)
