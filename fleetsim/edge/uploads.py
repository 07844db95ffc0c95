"""Vehicles upload the samples they kept, on a shared clock, over the network they are on.

Every ``uploads.interval`` a vehicle with a network sends its ready samples, highest
priority first (at most ``uploads.batch``), as one transfer to the cloud region. Over a
metered technology (cellular: ``metered: true`` in its hardware_models/network file),
``uploads.cellular`` may hold back all samples or all but the urgent ones for the depot's
WiFi; with no network (a coverage gap) the vehicle waits for the next tick.
"""

from __future__ import annotations

import math

from fleetsim.edge.facade import Fleet, Inbox
from fleetsim.edge.fleet import Vehicle
from fleetsim.metrics.events import EventLog
from fleetsim.network.coverage import NONE
from fleetsim.network.flows import FlowNetwork
from fleetsim.network.topology import UP


def next_tick(now: float, interval: float) -> float:
    """The first multiple of ``interval`` strictly after ``now``."""
    return (math.floor(now / interval) + 1) * interval


def upload_process(fleet: Fleet, vehicle: Vehicle, network: FlowNetwork, region: str, inbox: Inbox,
                   log: EventLog):
    """Upload ready samples every interval to ``inbox`` in ``region``, then wait again."""
    env, duration_s = fleet.env, fleet.clock.end_s
    policy = vehicle.spec.uploads
    attachment = network.attachments[vehicle.index]
    while True:
        yield env.timeout(next_tick(env.now, policy.interval) - env.now)
        if env.now >= duration_s:
            return
        access = attachment.access_at(env.now)
        if access == NONE:
            continue
        technology = network.topology.accesses[access].technology
        floor = -math.inf
        if technology.metered:
            if policy.cellular == "none":
                continue
            if policy.cellular == "urgent":
                floor = policy.urgent_priority
        captured = fleet.take_samples(vehicle, floor, policy.batch)
        if not captured:
            continue
        size = len(captured) * policy.sample_size
        vehicle.samples_in_flight += len(captured)
        result = yield network.transfer(vehicle.index, UP, size, region)
        vehicle.samples_in_flight -= len(captured)
        inbox.receive(fleet.upload(vehicle, captured))
        log.record("uploads", vehicle=vehicle.name, group=vehicle.spec.name, technology=technology.id,
                   t_start_s=result.started_s, t_end_s=env.now, samples=len(captured), bytes=size,
                   wire_bytes=result.wire_bytes, paused_s=result.paused_s)
