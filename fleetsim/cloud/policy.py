"""Retraining policies: when to start a training job."""

from __future__ import annotations

import simpy

from fleetsim.cloud.finetune import FineTuned, FineTuner
from fleetsim.cloud.store import SampleStore
from fleetsim.cloud.training import TrainingCluster, TrainingJob
from fleetsim.scenario.models import PeriodicRetrain


def periodic_policy(env: simpy.Environment, policy: PeriodicRetrain, store: SampleStore,
                    cluster: TrainingCluster, tuner: FineTuner, on_trained, duration_s: float):
    """Every ``interval``, if ``min_samples`` new samples arrived, fine-tune on the most recent
    ones (``cloud.fine_tune.max_samples``) with replay."""
    job_id = 0
    while True:
        yield env.timeout(policy.interval)
        if env.now >= duration_s:
            return
        if store.new_samples < policy.min_samples:
            continue
        job_id += 1
        store.used_by_last_job = store.received
        ids = store.sample_ids[-tuner.settings.max_samples:]
        tuned = tuner.fine_tune(job_id, ids, policy.epochs)
        job = TrainingJob(job_id=job_id, samples=tuned.samples + tuned.replay, epochs=policy.epochs,
                          submitted_s=env.now)
        env.process(_train_then_release(env, cluster, job, tuned, on_trained, duration_s))


def _train_then_release(env, cluster: TrainingCluster, job: TrainingJob, tuned: FineTuned, on_trained,
                        duration_s):
    yield env.process(cluster.run(job))
    if env.now < duration_s:
        on_trained(job, tuned)
