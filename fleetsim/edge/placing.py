"""Inference placement as a decision: where each vehicle group detects its frames.

A ``fleetsim.policies.PlacementPolicy`` is asked for every group at the start of the run
and then every ``decide_every_s`` seconds; a group's frames captured from a decision on go
where it says (``Offloading.place``). The decision is per group and interval, never per
frame, so the frames between decisions stay one vectorised stretch. Built in:
``ScenarioPlacement``, the scenario's fixed ``fleet.groups[].placement``, asked once.
"""

from __future__ import annotations

import math
from types import MappingProxyType

import numpy as np

from fleetsim.edge.facade import Fleet
from fleetsim.edge.fleet import GroupMembers
from fleetsim.edge.offload import Offloading
from fleetsim.network.coverage import NONE
from fleetsim.network.flows import FlowNetwork
from fleetsim.policies import (
    Placement,
    PlacementObservation,
    PlacementPolicy,
    PolicyError,
    checked_placement,
    name_of,
)
from fleetsim.scenario.references import group_cells


class ScenarioPlacement:
    """The scenario's ``fleet.groups[].placement``, decided once at the start of the run."""

    decide_every_s = math.inf

    def __init__(self, scenario):
        self.placements = {g.name: Placement(g.placement) for g in scenario.fleet.groups}

    def decide(self, obs: PlacementObservation) -> Placement:
        return self.placements[obs.group]


def placement_options(scenario, group) -> tuple[Placement, ...]:
    """Where ``group`` can detect its frames in ``scenario`` (onboard only in the reference mode)."""
    if scenario.simulation.mode == "reference":
        return (Placement.ONBOARD,)
    served = {c for m in scenario.network.mec for c in m.cells}
    return (Placement.ONBOARD,
            *((Placement.MEC,) if served & set(group_cells(scenario, group)) else ()),
            *((Placement.CLOUD,) if scenario.cloud.inference is not None else ()))


class Placer:
    """Asks the placement policy for every group and applies its answers to the offloading."""

    def __init__(self, scenario, groups: list[GroupMembers], network: FlowNetwork,
                 policy: PlacementPolicy | None):
        if policy is not None and scenario.simulation.mode == "reference":
            raise PolicyError(f"policies['placement']: {name_of(policy)} needs simulation.mode: vectorised "
                              "(frames are offloaded only there)")
        self.policy = policy if policy is not None else ScenarioPlacement(scenario)
        self.python = policy is not None
        self.groups = groups
        self.network = network
        self.horizon_s = scenario.simulation.duration
        self.options = {g.index: placement_options(scenario, g.spec) for g in groups}
        self.sites = [m.name for m in scenario.network.mec] + (
            [scenario.cloud.region] if scenario.cloud.inference is not None else [])
        self.perception = None
        self.offloading: Offloading | None = None
        self.current = {g.index: Placement.ONBOARD for g in groups}
        self.started = {g.index: Placement.ONBOARD for g in groups}
        self.seconds = {g.index: dict.fromkeys(self.options[g.index], 0.0) for g in groups}
        self._since = 0.0  # when the current placements were decided

    def first(self) -> dict[int, str]:
        """The placements at the start of the run, by group index."""
        for g in self.groups:
            self.current[g.index] = self.started[g.index] = self._ask(g, 0.0)
        return {g: p.value for g, p in self.current.items()}

    def switchable(self) -> bool:
        """Whether a group may move from where it starts (a Python policy with somewhere to go)."""
        return self.python and math.isfinite(self.policy.decide_every_s) and any(
            len(o) > 1 for o in self.options.values())

    def attach(self, perception, offloading: Offloading | None) -> None:
        self.perception, self.offloading = perception, offloading
        if self.python:
            perception.track_latency()

    def deciding(self, fleet: Fleet):
        """SimPy process: every ``decide_every_s``, bring the frames up to now and ask again."""
        every, env = self.policy.decide_every_s, fleet.env
        while env.now + every < self.horizon_s:
            yield env.timeout(every)
            fleet.bring_frames_up_to_now()
            self._count_time(env.now)
            for g in self.groups:
                self.current[g.index] = placement = self._ask(g, env.now)
                self.offloading.place(g, placement.value)

    def _count_time(self, now: float) -> None:
        for g, placement in self.current.items():
            self.seconds[g][placement] = self.seconds[g].get(placement, 0.0) + now - self._since
        self._since = now

    def by_group(self) -> dict[str, dict]:
        """Per group name: its placement at the start and the simulated seconds spent in each of
        its options (a Python policy may move a group; the scenario's placement never does)."""
        self._count_time(self.horizon_s)
        return {g.spec.name: {"placement": self.started[g.index].value,
                              "placement_s": {p.value: s for p, s in self.seconds[g.index].items()}}
                for g in self.groups}

    def _ask(self, members: GroupMembers, now: float) -> Placement:
        obs = self._observe(members, now)
        return checked_placement(self.policy, self.policy.decide(obs), obs)

    def _observe(self, members: GroupMembers, now: float) -> PlacementObservation:
        spec, g = members.spec, members.index
        accesses = np.array([self.network.attachments[v.index].access_at(now) for v in members.vehicles])
        connected = accesses != NONE
        near_mec = connected & (self.network.tables.mec_of[np.maximum(accesses, 0)] != NONE)
        perception, offloading = self.perception, self.offloading
        onboard = send = 0
        remote = dict.fromkeys(self.sites, 0)
        latency, done, lost = math.nan, 0, 0
        if perception is not None:
            onboard = int((perception.queues[g].recent > now).sum())
            latency, done, lost = perception.recent_latency(g)
        if offloading is not None:
            if g in offloading.send_queues:
                send = int((offloading.send_queues[g].recent > now).sum())
            for site in offloading.all_sites():
                remote[site.name] = sum(len(p["arrival"]) for p in site.pending) + sum(
                    d > now for d in site.queue.in_system)
        return PlacementObservation(
            t_s=now, horizon_s=self.horizon_s, group=spec.name, vehicles=len(members.vehicles),
            placement=self.current[g], options=self.options[g],
            frames_per_s=len(members.vehicles) * sum(c.fps for c in spec.cameras),
            frame_size_bytes=spec.offload.frame_size, onboard_queue=onboard, send_queue=send,
            remote_queue=MappingProxyType(remote), vehicles_connected=int(connected.sum()),
            vehicles_near_mec=int(near_mec.sum()), latency_s=latency, frames_done=done, frames_lost=lost)
