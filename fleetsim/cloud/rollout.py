"""Over-the-air rollout: each vehicle downloads a new model version and swaps to it."""

from __future__ import annotations

import simpy

from fleetsim.edge.fleet import Vehicle
from fleetsim.metrics.events import EventLog
from fleetsim.network.link import LinkDirection

BYTES_PER_PARAM = {"int8": 1, "fp16": 2, "bf16": 2, "fp32": 4}
"""Model payload per weight at each precision (derived: params x bytes per value)."""


def download_and_swap(env: simpy.Environment, vehicle: Vehicle, downlink: LinkDirection,
                      version: int, size: float, perception, log: EventLog, duration_s: float):
    """Download ``size`` bytes of ``version``; switch to it if it is newer than the current one."""
    started = env.now
    yield downlink.transfer(size)
    if env.now >= duration_s or version <= vehicle.model_version:
        return
    perception.advance_to(env.now)  # frames before the swap ran the old model
    previous = vehicle.model_version
    vehicle.model_version = version
    log.record("model_swaps", vehicle=vehicle.name, group=vehicle.spec.name,
               from_version=previous, to_version=version, t_download_start_s=started,
               t_swap_s=env.now, bytes=size)
