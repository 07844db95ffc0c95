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

Strategies are found by ``cloud.rollout.kind`` in ``ROLLOUTS`` (built in: ``staged``);
``register_rollout`` adds one. The staged strategy's decision after the canary period is a
``fleetsim.policies.CanaryPolicy`` (built in: ``RegressionGate``); a user's Python policy
(``fleetsim.run(policies={"canary": ...})``) takes its place.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import Protocol

import numpy as np

from fleetsim.clock import Clock
from fleetsim.edge.facade import Fleet
from fleetsim.metrics.events import EventLog
from fleetsim.network.flows import FlowNetwork
from fleetsim.network.topology import DOWN
from fleetsim.policies import Canary, CanaryObservation, CanaryPolicy, PolicyError, checked_action, name_of
from fleetsim.rng import component_key, counter_uniform
from fleetsim.scenario.cloud import ROLLOUT_KINDS, Rollout

BYTES_PER_PARAM = {"int8": 1, "fp16": 2, "bf16": 2, "fp32": 4}
"""Model payload per weight at each precision (derived: params x bytes per value of a group's variant)."""


class Downloads:
    """Over-the-air downloads of released versions, chunk by chunk, each ending in a swap."""

    def __init__(self, fleet: Fleet, network: FlowNetwork, region: str, settings: Rollout,
                 sizes: dict[str, float], log: EventLog):
        self.fleet = fleet
        self.network = network
        self.region = region
        self.settings = settings
        self.sizes = sizes  # bytes of each group's download (its variant's file), by group name
        self.log = log
        self.withdrawn: set[int] = set()  # versions rolled back: a download of one ends without a swap

    def start(self, vehicle: int, version: int) -> None:
        """Start ``vehicle``'s download of ``version``."""
        size = self.sizes[self.fleet.members[vehicle].group]
        self.fleet.env.process(self._download_and_swap(vehicle, version, size))

    def _download_and_swap(self, vehicle: int, version: int, size: float):
        """Download ``size`` bytes of ``version``; switch to it if it is newer than the current one
        and has not been withdrawn meanwhile."""
        env, rollout = self.fleet.env, self.settings
        started = env.now
        left, chunks, restarts, paused = size, 0, 0, 0.0
        while left > 0:
            part = min(rollout.chunk_size, left)
            result = yield self.network.transfer(vehicle, DOWN, part, self.region,
                                                 restart_after_s=rollout.resume_timeout)
            left -= part
            chunks += 1
            restarts += result.restarts
            paused += result.paused_s
        if (env.now >= self.fleet.clock.end_s or version <= self.fleet.model_version(vehicle)
                or version in self.withdrawn):
            return
        swap(self.fleet, vehicle, version, self.log, rollback=False, started=started, size=size,
             chunks=chunks, restarts=restarts, paused=paused)


def swap(fleet: Fleet, vehicle: int, version: int, log: EventLog, rollback: bool, started: float,
         size: float = 0.0, chunks: int = 0, restarts: int = 0, paused: float = 0.0):
    """Switch ``vehicle`` to ``version`` now (frames before it ran the old model) and record it."""
    previous = fleet.swap(vehicle, version)
    member = fleet.members[vehicle]
    log.record("model_swaps", vehicle=member.name, group=member.group, variant=member.variant,
               from_version=previous, to_version=version, rollback=rollback, t_download_start_s=started,
               t_swap_s=fleet.env.now, bytes=size, chunks=chunks, chunk_restarts=restarts, paused_s=paused)


class RolloutStrategy(Protocol):
    """How a released version reaches the fleet (``cloud.rollout.kind``)."""

    def release(self, version: int, previous: int, on_rollback: Callable[[int], None]) -> Generator:
        """SimPy process: roll ``version`` out; call ``on_rollback(version)`` if it is withdrawn."""


class RegressionGate:
    """Roll back when the canary's score fell more than ``max_regression`` below the fleet's (NaN:
    no evidence, roll out)."""

    def __init__(self, max_regression: float):
        self.max_regression = max_regression

    def decide(self, obs: CanaryObservation) -> Canary:
        regressed = obs.canary_score < obs.fleet_score * (1 - self.max_regression)
        return Canary.ROLLBACK if regressed else Canary.FLEET


class StagedRollout:
    """Canary first, then the fleet, or a rollback; remembers withdrawn versions."""

    def __init__(self, clock: Clock, downloads: Downloads, settings: Rollout, canary_key: np.uint64,
                 log: EventLog, decision: CanaryPolicy | None = None):
        self.env = clock.env
        self.fleet = downloads.fleet
        self.downloads = downloads
        self.settings = settings
        self.log = log
        self.duration_s = clock.end_s
        n = len(self.fleet)
        fraction = settings.canary_fraction
        staged = 0 < fraction < 1 and n > 1
        count = min(n - 1, max(1, math.ceil(fraction * n))) if staged else n
        order = np.argsort(counter_uniform(canary_key, np.arange(n)), kind="stable")
        self.canary = np.sort(order[:count])
        self.rest = np.sort(order[count:])
        self.withdrawn = downloads.withdrawn
        self.rollbacks = 0
        self.decision = decision if decision is not None else RegressionGate(settings.max_regression)

    def release(self, version: int, previous: int, on_rollback):
        """SimPy process: roll ``version`` out, falling back to ``previous`` on a regression."""
        released = self.env.now
        for i in self.canary:
            self.downloads.start(int(i), version)
        if len(self.rest) == 0:
            return
        yield self.env.timeout(self.settings.canary_period)
        if self.env.now >= self.duration_s:
            return
        signal = self.settings.canary_signal
        canary = self.fleet.signal(signal, released, self.env.now, self.canary, version)
        fleet = self.fleet.signal(signal, released, self.env.now, self.rest, None)
        observed = CanaryObservation(version=version, t_release_s=released, t_s=self.env.now, signal=signal,
                                     canary_score=canary, fleet_score=fleet, canary_vehicles=len(self.canary),
                                     fleet_vehicles=len(self.rest))
        regressed = checked_action(self.decision, self.decision.decide(observed), Canary) is Canary.ROLLBACK
        self.log.record("rollouts", version=version, t_release_s=released, t_decision_s=self.env.now,
                        canary_vehicles=len(self.canary), signal=signal,
                        canary_score=canary, fleet_score=fleet,
                        decision="rollback" if regressed else "fleet")
        if regressed:
            self.rollbacks += 1
            self.withdrawn.add(version)
            for i in self.canary:
                if self.fleet.model_version(int(i)) == version:
                    swap(self.fleet, int(i), previous, self.log, rollback=True, started=self.env.now)
            on_rollback(version)
            return
        for i in self.rest:
            self.downloads.start(int(i), version)


RolloutBuilder = Callable[[Rollout, Clock, Downloads, int, EventLog], RolloutStrategy]


def _staged(spec: Rollout, clock: Clock, downloads: Downloads, seed: int, log: EventLog) -> StagedRollout:
    return StagedRollout(clock, downloads, spec, component_key(seed, "canary"), log)


ROLLOUTS: dict[str, RolloutBuilder] = {"staged": _staged}
"""Rollout strategies by ``kind``: (cloud.rollout, clock, downloads, seed, log) -> strategy."""


def register_rollout(model: type[Rollout], build: RolloutBuilder) -> None:
    """Add a rollout strategy: ``model`` (a ``Rollout`` subclass with its own ``kind`` literal) becomes
    an allowed ``cloud.rollout``, ``build`` makes its strategy for a run."""
    ROLLOUTS[ROLLOUT_KINDS.register(model)] = build


def make_rollout(spec: Rollout, clock: Clock, downloads: Downloads, seed: int, log: EventLog,
                 canary: CanaryPolicy | None = None) -> RolloutStrategy:
    """The strategy ``cloud.rollout`` describes; ``canary``, a user's policy, decides after its canary."""
    strategy = ROLLOUTS[spec.kind](spec, clock, downloads, seed, log)
    if canary is not None:
        if not isinstance(strategy, StagedRollout):
            raise PolicyError(f"policies['canary']: {name_of(canary)} needs cloud.rollout kind 'staged' "
                              f"(this scenario's is {spec.kind!r})")
        strategy.decision = canary
    return strategy
