"""Vehicles upload the samples they kept, on a shared clock, over their link's uplink."""

from __future__ import annotations

import math
from collections.abc import Callable

import simpy

from fleetsim.edge.fleet import Vehicle
from fleetsim.metrics.events import EventLog
from fleetsim.network.link import LinkDirection


def next_tick(now: float, interval: float) -> float:
    """The first multiple of ``interval`` strictly after ``now``."""
    return (math.floor(now / interval) + 1) * interval


def upload_process(env: simpy.Environment, vehicle: Vehicle, uplink: LinkDirection,
                   catch_up: Callable[[float], None], store, log: EventLog, duration_s: float):
    """Every ``uploads.interval``, send all ready samples as one transfer, then wait again.

    ``catch_up(now)`` brings frames and sample selection up to the clock first.
    """
    policy = vehicle.spec.uploads
    while True:
        yield env.timeout(next_tick(env.now, policy.interval) - env.now)
        if env.now >= duration_s:
            return
        catch_up(env.now)
        captured = vehicle.samples.take_ready(env.now)
        if not captured:
            continue
        size = len(captured) * policy.sample_size
        vehicle.samples_in_flight += len(captured)
        started = env.now
        yield uplink.transfer(size)
        vehicle.samples_in_flight -= len(captured)
        store.receive(vehicle, captured, env.now)
        log.record("uploads", vehicle=vehicle.name, group=vehicle.spec.name, t_start_s=started,
                   t_end_s=env.now, samples=len(captured), bytes=size)
