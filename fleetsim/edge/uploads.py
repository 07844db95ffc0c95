"""Vehicles upload the samples they kept, on a shared clock, over the network they are on.

Every ``uploads.interval`` a vehicle with a network sends its ready samples, highest
priority first (at most ``uploads.batch``), as one transfer to the cloud region. Over a
metered technology (cellular: ``metered: true`` in its hardware_models/network file),
``uploads.cellular`` may hold back all samples or all but the urgent ones for the depot's
WiFi; with no network (a coverage gap) the vehicle waits for the next tick.

That decision is a ``fleetsim.policies.UploadPolicy`` (built in: ``CellularRule``, from the
group's ``uploads``); a user's Python policy (``fleetsim.run(policies={"uploads": ...})``)
takes its place for every vehicle.
"""

from __future__ import annotations

import math

from fleetsim.edge.facade import Fleet, Inbox
from fleetsim.edge.fleet import Vehicle
from fleetsim.metrics.events import EventLog
from fleetsim.network.coverage import NONE
from fleetsim.network.flows import FlowNetwork
from fleetsim.network.topology import UP
from fleetsim.policies import HOLD, UploadAction, UploadObservation, UploadPolicy, checked_upload
from fleetsim.scenario.models import SampleUploads


class CellularRule:
    """The group's ``uploads.cellular``: over a metered technology send nothing, only the urgent
    samples, or everything; elsewhere everything (at most ``uploads.batch``)."""

    def __init__(self, uploads: SampleUploads):
        self.cellular = uploads.cellular
        self.urgent = UploadAction(min_priority=uploads.urgent_priority)

    def decide(self, obs: UploadObservation) -> UploadAction:
        if obs.metered and self.cellular == "none":
            return HOLD
        if obs.metered and self.cellular == "urgent":
            return self.urgent
        return ALL


ALL = UploadAction()


def next_tick(now: float, interval: float) -> float:
    """The first multiple of ``interval`` strictly after ``now``."""
    return (math.floor(now / interval) + 1) * interval


def upload_process(fleet: Fleet, vehicle: Vehicle, network: FlowNetwork, region: str, inbox: Inbox,
                   log: EventLog, decision: UploadPolicy | None = None):
    """Upload ready samples every interval to ``inbox`` in ``region``, then wait again; ``decision``
    (default: the group's ``CellularRule``) says whether and what at each tick."""
    env, duration_s = fleet.env, fleet.clock.end_s
    policy = vehicle.spec.uploads
    decision = decision if decision is not None else CellularRule(policy)
    attachment = network.attachments[vehicle.index]
    while True:
        yield env.timeout(next_tick(env.now, policy.interval) - env.now)
        if env.now >= duration_s:
            return
        access = attachment.access_at(env.now)
        if access == NONE:
            continue
        technology = network.topology.accesses[access].technology
        observed = UploadObservation(vehicle=vehicle.name, group=vehicle.spec.name, t_s=env.now,
                                     technology=technology.id, metered=technology.metered,
                                     samples_on_vehicle=len(vehicle.samples))
        action = checked_upload(decision, decision.decide(observed))
        if not action.send:
            continue
        limit = action.limit if action.limit is not None else policy.batch
        captured = fleet.take_samples(vehicle, action.min_priority, limit)
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
