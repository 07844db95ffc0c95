"""The retraining loop of one run: policy -> cluster job -> real fine-tune -> gate -> rollout.

``RetrainingLoop`` wires the scenario's cloud section into the simulation (the engine
builds none for ``never``): the policy process watches the sample store's labelled pool, each job runs on its
cluster while the FineTuner really trains the next model, a model through the validation
gate is released into the registry and rolled out (canary, then fleet) over the network,
and a canary regression rolls it back.
"""

from __future__ import annotations

import simpy

from fleetsim.cloud.finetune import FineTuner
from fleetsim.cloud.policy import ConfidenceDrift, retraining_policy
from fleetsim.cloud.rollout import BYTES_PER_PARAM, StagedRollout, download_and_swap
from fleetsim.cloud.store import SampleStore
from fleetsim.cloud.training import TrainingCluster
from fleetsim.detector.registry import ModelRegistry
from fleetsim.edge.detection import FleetDetection
from fleetsim.hardware.catalog import Catalog
from fleetsim.hardware.workload import Workload
from fleetsim.metrics.events import EventLog
from fleetsim.network.flows import FlowNetwork
from fleetsim.rng import component_key
from fleetsim.scenario.cloud import DriftRetrain
from fleetsim.scenario.models import Scenario


class RetrainingLoop:
    """The cloud side of a run: training, the model lineage and the rollout of new versions."""

    def __init__(self, env: simpy.Environment, scenario: Scenario, catalog: Catalog, workload: Workload,
                 vehicles: list, registry: ModelRegistry, detection: FleetDetection, perception,
                 network: FlowNetwork, store: SampleStore, log: EventLog, catch_up):
        self.env = env
        self.scenario = scenario
        self.workload = workload
        self.registry = registry
        self.perception = perception
        self.network = network
        self.log = log
        self.duration = scenario.simulation.duration
        self.versions_made = 0
        self.versions_released = 0
        self.current_version = 0
        cloud, detector, seed = scenario.cloud, scenario.detector, scenario.simulation.seed
        policy = cloud.retraining
        spec = next(c for c in cloud.clusters if c.name == policy.cluster)
        devices = {pool.device: catalog.device(pool.device, "cloud") for pool in spec.node_pools}
        cluster = TrainingCluster(env, spec, devices, workload, log, seed, self.duration)
        self.tuner = FineTuner(cloud.fine_tune, store, seed, detector.threads,
                               detector.batch_size, registry.paths[0])
        self.drift = (ConfidenceDrift(policy, detection.mean_confidence, catch_up)
                      if isinstance(policy, DriftRetrain) else None)
        signal = detection.map50_of if cloud.rollout.canary_signal == "map50" else detection.mean_confidence
        self.rollout = StagedRollout(env, vehicles, cloud.rollout, component_key(seed, "canary"),
                                     self._download, signal, catch_up, perception, log, self.duration)
        env.process(retraining_policy(env, policy, store, cluster, self.tuner, self._release, log,
                                      self.duration, self.drift))

    def _release(self, job, tuned) -> None:
        """A job finished: record its model as the next version; roll it out if it passed the gate."""
        self.versions_made += 1
        version = self.versions_made
        self.log.record("model_versions", version=version, job=job.job_id, parent_job=tuned.parent_job,
                        t_release_s=self.env.now, samples=tuned.samples, replay=tuned.replay,
                        epochs=job.epochs, size_bytes=tuned.size_bytes, host_wall_s=tuned.host_wall_s,
                        deployed=tuned.passed, to_beat_map50=tuned.deployed_map50,
                        **{f"map50_{c}": m for c, m in tuned.map50.items()})
        if not tuned.passed:
            if self.drift is not None:
                self.drift.rejected()
            return
        self.versions_released += 1
        self.registry.release(version, tuned.path)
        if self.drift is not None:
            self.drift.deployed(self.env.now)
        previous, self.current_version = self.current_version, version

        def rolled_back(withdrawn: int) -> None:
            self.tuner.rollback(job.job_id)
            if self.current_version == withdrawn:
                self.current_version = previous

        self.env.process(self.rollout.release(version, previous, rolled_back))

    def _download(self, vehicle, version: int) -> None:
        """Start ``vehicle``'s download of ``version``."""
        cloud = self.scenario.cloud
        size = self.workload.spec.params.value * BYTES_PER_PARAM[vehicle.spec.precision]
        self.env.process(download_and_swap(self.env, vehicle, self.network, cloud.region, version, size,
                                           cloud.rollout, self.perception, self.log, self.duration,
                                           self.rollout.withdrawn))
