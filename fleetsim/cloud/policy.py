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
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

from fleetsim.clock import Clock
from fleetsim.cloud.finetune import FineTuned, FineTuner
from fleetsim.cloud.store import SampleStore
from fleetsim.cloud.training import TrainingCluster, TrainingJob
from fleetsim.detector.registry import ModelRegistry
from fleetsim.edge.facade import Fleet
from fleetsim.metrics.events import EventLog
from fleetsim.scenario.cloud import (
    RETRAINING_KINDS,
    DriftRetrain,
    JobPolicy,
    PeriodicRetrain,
    SampleCountRetrain,
)

DAY_S = 86400.0


class RetrainingTrigger(Protocol):
    """When to start a training job: asked every ``check_every_s`` while the run lasts."""

    spec: JobPolicy  # the scenario's cloud.retraining (cluster, epochs, budget and the kind's own fields)
    check_every_s: float

    def wants_job(self, now: float, new_samples: int) -> bool:
        """Whether a job should start now, with ``new_samples`` labelled since the last one."""

    def job_started(self) -> None: ...

    def model_deployed(self, now: float) -> None: ...

    def model_rejected(self) -> None: ...


class CountTrigger:
    """Train once ``needed`` new samples are labelled, looking every ``check_every_s``."""

    def __init__(self, spec: JobPolicy, check_every_s: float, needed: int):
        self.spec = spec
        self.check_every_s = check_every_s
        self.needed = needed

    def wants_job(self, now: float, new_samples: int) -> bool:
        return new_samples >= self.needed

    def job_started(self) -> None:
        """A job started (a trigger may wait for its model)."""

    def model_deployed(self, now: float) -> None:
        """The job's model went out at ``now``."""

    def model_rejected(self) -> None:
        """The job's model failed the validation gate."""


class ConfidenceDrift(CountTrigger):
    """The drift policy's test: the fleet's confidence against a reference window."""

    def __init__(self, spec: DriftRetrain, fleet: Fleet):
        super().__init__(spec, spec.check_every, spec.min_samples)
        self.policy = spec
        self.fleet = fleet
        self.reference_from = 0.0
        self.reference: float | None = None
        self.waiting = False  # a job was started and its model is not deployed yet

    def wants_job(self, now: float, new_samples: int) -> bool:
        return super().wants_job(now, new_samples) and self.drifted(now)

    def job_started(self) -> None:
        self.waiting = True  # until the job's model is deployed or rejected

    def model_deployed(self, now: float) -> None:
        """A new model went out: measure a fresh reference after it."""
        self.reference_from, self.reference, self.waiting = now, None, False

    def model_rejected(self) -> None:
        """The job's model failed the gate: the drift still stands, the next check may retrain."""
        self.waiting = False

    def drifted(self, now: float) -> bool:
        window = self.policy.window
        if self.waiting or now < self.reference_from + window:
            return False
        if self.reference is None:
            start = self.reference_from
            self.reference = self.fleet.signal("confidence", start, start + window)
        recent = self.fleet.signal("confidence", now - window, now)
        return bool(recent < self.reference * (1 - self.policy.drop))


TriggerBuilder = Callable[[JobPolicy, Fleet], RetrainingTrigger | None]


def _never(spec, fleet: Fleet) -> None:
    return None  # no trigger: the run keeps its shipped model and builds no retraining loop


def _periodic(spec: PeriodicRetrain, fleet: Fleet) -> CountTrigger:
    return CountTrigger(spec, spec.interval, spec.min_samples)


def _sample_count(spec: SampleCountRetrain, fleet: Fleet) -> CountTrigger:
    return CountTrigger(spec, spec.check_every, spec.samples)


TRIGGERS: dict[str, TriggerBuilder] = {
    "never": _never,
    "periodic": _periodic,
    "sample_count": _sample_count,
    "drift": ConfidenceDrift,
}
"""Builders of the retraining triggers by ``kind``: (cloud.retraining, fleet) -> trigger (None: never)."""


def register_trigger(model: type[JobPolicy], build: TriggerBuilder) -> None:
    """Add a retraining trigger: ``model`` (a ``JobPolicy`` with a ``kind`` literal) becomes an allowed
    ``cloud.retraining`` of scenarios, ``build`` makes its trigger for a run."""
    kind = RETRAINING_KINDS.register(model)
    TRIGGERS[kind] = build


def make_trigger(spec, fleet: Fleet) -> RetrainingTrigger | None:
    """The trigger ``cloud.retraining`` describes (None: the kind never retrains)."""
    return TRIGGERS[spec.kind](spec, fleet)


@dataclass(frozen=True)
class Trainer:
    """Where jobs run, what really trains, and where released models are kept."""

    cluster: TrainingCluster
    tuner: FineTuner
    registry: ModelRegistry


def retraining_policy(clock: Clock, trigger: RetrainingTrigger, store: SampleStore, trainer: Trainer,
                      on_trained, log: EventLog):
    """Start a job whenever ``trigger`` says so and the budget allows."""
    env, duration_s, policy = clock.env, clock.end_s, trigger.spec
    cluster, tuner = trainer.cluster, trainer.tuner
    step = trigger.check_every_s
    started: list[tuple[float, float, float]] = []  # (time, USD, J) of every job started
    job_id = 0
    while True:
        yield env.timeout(step)
        if env.now >= duration_s:
            return
        if not trigger.wants_job(env.now, store.new_samples):
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
        job_id += 1
        started.append((env.now, cost.cost_usd, cost.energy_j))
        store.used_by_last_job = store.labelled
        tuned = tuner.start(job_id, ids, policy.epochs)  # joined when the job is done
        trigger.job_started()
        job = TrainingJob(job_id=job_id, samples=samples, epochs=policy.epochs, submitted_s=env.now)
        env.process(_train_then_release(env, cluster, job, tuned, on_trained, duration_s))


def _train_then_release(env, cluster: TrainingCluster, job: TrainingJob, tuned: Future[FineTuned],
                        on_trained, duration_s):
    yield env.process(cluster.run(job))
    if env.now < duration_s:
        on_trained(job, tuned.result())
