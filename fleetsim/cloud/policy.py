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
"""

from __future__ import annotations

import simpy

from fleetsim.cloud.finetune import FineTuned, FineTuner
from fleetsim.cloud.store import SampleStore
from fleetsim.cloud.training import TrainingCluster, TrainingJob
from fleetsim.metrics.events import EventLog
from fleetsim.scenario.cloud import DriftRetrain, PeriodicRetrain, SampleCountRetrain

DAY_S = 86400.0


class ConfidenceDrift:
    """The drift policy's test: the fleet's confidence against a reference window."""

    def __init__(self, policy: DriftRetrain, confidence, catch_up):
        self.policy = policy
        self.confidence = confidence  # (t0, t1) -> mean detection confidence of frames captured then
        self.catch_up = catch_up  # brings detections up to a time
        self.reference_from = 0.0
        self.reference: float | None = None
        self.waiting = False  # a job was started and its model is not deployed yet

    def deployed(self, now: float) -> None:
        """A new model went out: measure a fresh reference after it."""
        self.reference_from, self.reference, self.waiting = now, None, False

    def rejected(self) -> None:
        """The job's model failed the gate: the drift still stands, the next check may retrain."""
        self.waiting = False

    def drifted(self, now: float) -> bool:
        window = self.policy.window
        if self.waiting or now < self.reference_from + window:
            return False
        self.catch_up(now)
        if self.reference is None:
            self.reference = self.confidence(self.reference_from, self.reference_from + window)
        recent = self.confidence(now - window, now)
        return bool(recent < self.reference * (1 - self.policy.drop))


def retraining_policy(env: simpy.Environment, policy, store: SampleStore, cluster: TrainingCluster,
                      tuner: FineTuner, on_trained, log: EventLog, duration_s: float,
                      drift: ConfidenceDrift | None = None):
    """Start a job whenever ``policy`` says so and the budget allows."""
    periodic = isinstance(policy, PeriodicRetrain)
    step = policy.interval if periodic else policy.check_every
    needed = policy.samples if isinstance(policy, SampleCountRetrain) else policy.min_samples
    started: list[tuple[float, float, float]] = []  # (time, USD, J) of every job started
    job_id = 0
    while True:
        yield env.timeout(step)
        if env.now >= duration_s:
            return
        if store.new_samples < needed:
            continue
        if drift is not None and not drift.drifted(env.now):
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
        tuned = tuner.fine_tune(job_id, ids, policy.epochs)
        if drift is not None:
            drift.waiting = True  # until the job's model is deployed or rejected
        job = TrainingJob(job_id=job_id, samples=samples, epochs=policy.epochs, submitted_s=env.now)
        env.process(_train_then_release(env, cluster, job, tuned, on_trained, duration_s))


def _train_then_release(env, cluster: TrainingCluster, job: TrainingJob, tuned: FineTuned, on_trained,
                        duration_s):
    yield env.process(cluster.run(job))
    if env.now < duration_s:
        on_trained(job, tuned)
