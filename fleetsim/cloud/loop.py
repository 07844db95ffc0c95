"""The retraining loop of one run: trigger -> cluster job -> real fine-tune -> gate -> rollout.

``RetrainingLoop`` runs the scenario's cloud section (the run builds none for ``never``):
the trigger watches the sample store's labelled pool, each job runs on its cluster while
the fine-tuner really trains the next model, a model through the validation gate is
released into the registry and rolled out (canary, then fleet) over the network, and a
canary regression rolls it back. It reaches the vehicles only through the fleet facade,
inside the rollout.
"""

from __future__ import annotations

from fleetsim.clock import Clock
from fleetsim.cloud.policy import Lineage, Observer, RetrainingTrigger, Trainer, retraining_policy
from fleetsim.cloud.rollout import RolloutStrategy
from fleetsim.metrics.events import EventLog


class RetrainingLoop:
    """The cloud side of a run: training, the model lineage and the rollout of new versions."""

    def __init__(self, clock: Clock, trigger: RetrainingTrigger, observer: Observer, trainer: Trainer,
                 rollout: RolloutStrategy, log: EventLog):
        self.env = clock.env
        self.trigger = trigger
        self.tuner = trainer.tuner
        self.registry = trainer.registry
        self.rollout = rollout
        self.log = log
        self.observer = observer
        self.lineage: Lineage = observer.lineage
        self.current_version = 0
        self.env.process(retraining_policy(clock, trigger, observer, trainer, self._release, log))

    @property
    def versions_made(self) -> int:
        return self.lineage.models_made

    @property
    def versions_released(self) -> int:
        return self.lineage.models_released

    def _release(self, job, tuned) -> None:
        """A job finished: record its model as the next version; roll it out if it passed the gate."""
        self.lineage.models_made += 1
        version = self.lineage.models_made
        self.log.record("model_versions", version=version, job=job.job_id, parent_job=tuned.parent_job,
                        t_release_s=self.env.now, samples=tuned.samples, replay=tuned.replay,
                        epochs=job.epochs, size_bytes=tuned.size_bytes, host_wall_s=tuned.host_wall_s,
                        deployed=tuned.passed, to_beat_map50=tuned.deployed_map50,
                        **{f"map50_{c}": m for c, m in tuned.map50.items()})
        if not tuned.passed:
            return
        self.lineage.models_released += 1
        self.lineage.last_release_s = self.env.now
        self.registry.release(version, tuned.paths)
        previous, self.current_version = self.current_version, version

        def rolled_back(withdrawn: int) -> None:
            self.tuner.rollback(job.job_id)
            if self.current_version == withdrawn:
                self.current_version = previous

        self.env.process(self.rollout.release(version, previous, rolled_back))
