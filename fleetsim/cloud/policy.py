"""Retraining policies: when to start a training job, within the daily budget.

``periodic`` looks every interval and trains if ``min_samples`` new samples arrived;
``sample_count`` looks every ``check_every`` and trains once ``samples`` new ones arrived;
``drift`` looks every ``check_every`` and trains when the fleet's mean detection
confidence over the last ``window`` fell by ``drop`` below its reference (the first window
of the run, then the first window after each deployment), with ``min_samples`` new ones.
Samples count once labelled and while retained (``cloud.labeling``); a job fine-tunes on the
most recent labelled samples still retained (``cloud.fine_tune.max_samples``) with replay.
Before it starts, its modelled price and energy plus what jobs started in the last 24 h
spent must stay within ``budget``; otherwise it is skipped (and recorded as such).

Each kind is a ``RetrainingTrigger`` found by its ``kind`` in ``TRIGGERS``;
``register_trigger`` adds one (its scenario model and its builder) without touching this file.
A trigger is a ``fleetsim.policies.RetrainingPolicy``: at each check it sees a
``RetrainingObservation`` and returns ``Retraining.TRAIN`` or ``Retraining.WAIT``. A user's
Python policy (``fleetsim.run(policies={"retraining": ...})``) takes the place of the kind's
decision, with the scenario's cluster, epochs and budget (``PythonTrigger``). A decision may
also be a SimPy event whose value is the action: the process waits for it (the Gymnasium
environment answers it), resuming before anything else happens at that instant.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

import simpy

from fleetsim.clock import Clock
from fleetsim.cloud.store import SampleStore
from fleetsim.cloud.training import TrainingCluster, TrainingJob
from fleetsim.detector.registry import ModelRegistry
from fleetsim.edge.facade import Fleet
from fleetsim.metrics.events import EventLog
from fleetsim.network.coverage import NONE
from fleetsim.network.flows import FlowNetwork
from fleetsim.policies import PolicyError, Retraining, RetrainingObservation, checked_action, name_of
from fleetsim.scenario.cloud import (
    RETRAINING_KINDS,
    DriftRetrain,
    JobPolicy,
    PeriodicRetrain,
    SampleCountRetrain,
)

if TYPE_CHECKING:  # torch: only a run that trains loads the fine-tuner
    from fleetsim.cloud.finetune import FineTuned, FineTuner

DAY_S = 86400.0


class RetrainingTrigger(Protocol):
    """When to start a training job: asked every ``check_every_s`` while the run lasts."""

    spec: JobPolicy  # the scenario's cloud.retraining (cluster, epochs, budget and the kind's own fields)
    check_every_s: float

    def decide(self, obs: RetrainingObservation) -> Retraining | simpy.Event:
        """``Retraining.TRAIN`` to start a job now (budget allowing), else ``Retraining.WAIT``."""

    def job_started(self) -> None: ...


class CountTrigger:
    """Train once ``needed`` new samples are labelled, looking every ``check_every_s``."""

    def __init__(self, spec: JobPolicy, check_every_s: float, needed: int):
        self.spec = spec
        self.check_every_s = check_every_s
        self.needed = needed

    def decide(self, obs: RetrainingObservation) -> Retraining:
        return Retraining.TRAIN if self.wants_job(obs.t_s, obs.new_samples) else Retraining.WAIT

    def wants_job(self, now: float, new_samples: int) -> bool:
        """Whether a job should start now, with ``new_samples`` labelled since the last one."""
        return new_samples >= self.needed

    def job_started(self) -> None:
        """A job started (a trigger may wait for its model)."""


class ConfidenceDrift:
    """The drift policy's test: the fleet's confidence against a reference window.

    The reference is the first ``window`` after the last released model (or the run's
    start); no job starts while one is pending (its model neither released nor rejected).
    """

    def __init__(self, spec: DriftRetrain):
        self.spec = spec
        self.check_every_s = spec.check_every
        self.reference: tuple[float, float] | None = None  # (start of the reference window, its signal)

    def decide(self, obs: RetrainingObservation) -> Retraining:
        wanted = obs.new_samples >= self.spec.min_samples and self.drifted(obs)
        return Retraining.TRAIN if wanted else Retraining.WAIT

    def job_started(self) -> None:
        """Nothing to note: a pending job shows in the observation."""

    def drifted(self, obs: RetrainingObservation) -> bool:
        window, start = self.spec.window, obs.last_release_s
        if obs.jobs_pending or obs.t_s < start + window:
            return False
        if self.reference is None or self.reference[0] != start:
            self.reference = (start, obs.signal("confidence", start, start + window))
        recent = obs.signal("confidence", obs.t_s - window, obs.t_s)
        return bool(recent < self.reference[1] * (1 - self.spec.drop))


class PythonTrigger:
    """A user's ``RetrainingPolicy`` in the place of the scenario's trigger (its cluster, epochs, budget)."""

    def __init__(self, spec: JobPolicy, policy):
        self.spec = spec
        self.policy = policy
        self.check_every_s = float(policy.check_every_s)

    def decide(self, obs: RetrainingObservation) -> Retraining | simpy.Event:
        action = self.policy.decide(obs)
        return action if isinstance(action, simpy.Event) else checked_action(self.policy, action, Retraining)

    def job_started(self) -> None:
        """A job started: the observation's counts show it."""


TriggerBuilder = Callable[[JobPolicy, Fleet], RetrainingTrigger | None]


def _never(spec, fleet: Fleet) -> None:
    return None  # no trigger: the run keeps its shipped model and builds no retraining loop


def _periodic(spec: PeriodicRetrain, fleet: Fleet) -> CountTrigger:
    return CountTrigger(spec, spec.interval, spec.min_samples)


def _sample_count(spec: SampleCountRetrain, fleet: Fleet) -> CountTrigger:
    return CountTrigger(spec, spec.check_every, spec.samples)


def _drift(spec: DriftRetrain, fleet: Fleet) -> ConfidenceDrift:
    return ConfidenceDrift(spec)  # it reads the fleet through the observation's signal


TRIGGERS: dict[str, TriggerBuilder] = {
    "never": _never,
    "periodic": _periodic,
    "sample_count": _sample_count,
    "drift": _drift,
}
"""Builders of the retraining triggers by ``kind``: (cloud.retraining, fleet) -> trigger (None: never)."""


def register_trigger(model: type[JobPolicy], build: TriggerBuilder) -> None:
    """Add a retraining trigger: ``model`` (a ``JobPolicy`` with a ``kind`` literal) becomes an allowed
    ``cloud.retraining`` of scenarios, ``build`` makes its trigger for a run."""
    kind = RETRAINING_KINDS.register(model)
    TRIGGERS[kind] = build


def make_trigger(spec, fleet: Fleet, policy=None) -> RetrainingTrigger | None:
    """The trigger ``cloud.retraining`` describes (None: the kind never retrains), or the user's
    Python ``policy`` with the kind's cluster, epochs and budget."""
    if policy is None:
        return TRIGGERS[spec.kind](spec, fleet)
    if not isinstance(spec, JobPolicy):
        raise PolicyError(f"policies['retraining']: {name_of(policy)} needs cloud.retraining to name a "
                          f"cluster (allowed kinds: any but {spec.kind!r})")
    return PythonTrigger(spec, policy)


@dataclass
class Lineage:
    """What the retraining loop has done so far: jobs started, models made and released, spend."""

    jobs_started: int = 0
    models_made: int = 0
    models_released: int = 0
    last_release_s: float = 0.0
    started: list[tuple[float, float, float]] = field(default_factory=list)  # (time, USD, J) per job


class Observer:
    """Builds a retraining policy's observation from the store, the fleet and the network; reading
    them moves nothing (only the observation's ``signal`` brings detection up to now).

    The recent ``confidence`` and ``map50`` (a pass over every detection record) are measured for
    a Python policy only (``signals``): the built-in triggers do not read them (NaN for them).
    """

    def __init__(self, clock: Clock, store: SampleStore, fleet: Fleet, network: FlowNetwork,
                 lineage: Lineage, window_s: float, signals: bool):
        self.clock = clock
        self.window_s = window_s  # of the observation's confidence and map50
        self.signals = signals
        self.store = store
        self.fleet = fleet
        self.network = network
        self.lineage = lineage

    def observe(self) -> RetrainingObservation:
        now, store, lineage = self.clock.now, self.store, self.lineage
        on_vehicles, in_flight = self.fleet.upload_queues()
        accesses = [a.access_at(now) for a in self.network.attachments]
        metered = sum(a != NONE and self.network.topology.accesses[a].technology.metered for a in accesses)
        return RetrainingObservation(
            t_s=now, horizon_s=self.clock.end_s, new_samples=store.new_samples,
            retained_samples=store.retained, samples_by_condition=MappingProxyType(store.by_condition()),
            labels_pending=store.received - store.labelled, samples_on_vehicles=on_vehicles,
            samples_in_flight=in_flight, vehicles_connected=sum(a != NONE for a in accesses),
            vehicles_metered=int(metered), vehicles=len(accesses), jobs_started=lineage.jobs_started,
            jobs_pending=lineage.jobs_started - lineage.models_made,
            models_released=lineage.models_released, last_release_s=lineage.last_release_s,
            training_usd=float(sum(u for _, u, _ in lineage.started)),
            training_energy_j=float(sum(j for *_, j in lineage.started)),
            labelling_usd=store.labelling_usd, confidence=self._recent("confidence"),
            map50=self._recent("map50"), signal=self.fleet.signal)

    def _recent(self, kind: str) -> float:
        now = self.clock.now
        return self.fleet.signal_so_far(kind, now - self.window_s, now) if self.signals else math.nan


@dataclass(frozen=True)
class Trainer:
    """Where jobs run, what really trains, and where released models are kept."""

    cluster: TrainingCluster
    tuner: FineTuner
    registry: ModelRegistry


def retraining_policy(clock: Clock, trigger: RetrainingTrigger, observer: Observer, trainer: Trainer,
                      on_trained, log: EventLog):
    """Start a job whenever ``trigger`` says so and the budget allows."""
    env, duration_s, policy = clock.env, clock.end_s, trigger.spec
    cluster, tuner, store, lineage = trainer.cluster, trainer.tuner, observer.store, observer.lineage
    step = trigger.check_every_s
    started = lineage.started
    while True:
        yield env.timeout(step)
        if env.now >= duration_s:
            return
        decision = trigger.decide(observer.observe())
        if isinstance(decision, simpy.Event):  # answered from outside the run (the Gymnasium environment)
            decision = yield decision
        if checked_action(trigger, decision, Retraining) is not Retraining.TRAIN:
            continue
        ids = store.sample_ids[-tuner.settings.max_samples:]
        samples = len(ids) + tuner.replay_count(len(ids))
        cost = cluster.cost(samples, policy.epochs)
        recent = [(usd, j) for t, usd, j in started if t > env.now - DAY_S]
        usd = sum(u for u, _ in recent) + cost.cost_usd
        joules = sum(j for _, j in recent) + cost.energy_j
        cap = policy.budget
        if (cap.usd_per_day is not None and usd > cap.usd_per_day) or (
                cap.energy_per_day is not None and joules > cap.energy_per_day):
            log.record("skipped_jobs", t_s=env.now, new_samples=store.new_samples,
                       cost_usd=cost.cost_usd, energy_j=cost.energy_j, day_usd=usd, day_energy_j=joules)
            continue
        lineage.jobs_started += 1
        job_id = lineage.jobs_started
        started.append((env.now, cost.cost_usd, cost.energy_j))
        store.used_by_last_job = store.labelled
        tuned = tuner.start(job_id, ids, policy.epochs)  # joined when the job is done
        trigger.job_started()
        job = TrainingJob(job_id=job_id, samples=samples, epochs=policy.epochs, submitted_s=env.now)
        env.process(_train_then_release(env, cluster, job, tuner, tuned, on_trained, duration_s))


def _train_then_release(env, cluster: TrainingCluster, job: TrainingJob, tuner: FineTuner,
                        tuned: Future[FineTuned], on_trained, duration_s):
    yield env.process(cluster.run(job))
    if env.now < duration_s:
        on_trained(job, tuner.join(tuned))
