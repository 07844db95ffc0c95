"""Training clusters: a job queue per cluster; duration, energy and cost from the hardware model."""

from __future__ import annotations

from dataclasses import dataclass

import simpy

from fleetsim.hardware.specs import DeviceSpec
from fleetsim.hardware.training import TrainingCost, training_cost
from fleetsim.hardware.workload import Workload
from fleetsim.metrics.events import EventLog
from fleetsim.scenario.cloud import Cluster


@dataclass
class TrainingJob:
    """One retraining request: which samples and how many passes."""

    job_id: int
    samples: int  # frames trained on: uploaded samples plus replayed ones
    epochs: int
    submitted_s: float


class TrainingCluster:
    """A cluster spec, its device model, and a SimPy resource of concurrent job slots."""

    def __init__(self, env: simpy.Environment, spec: Cluster, device: DeviceSpec,
                 workload: Workload, log: EventLog):
        self.env = env
        self.spec = spec
        self.device = device
        self.workload = workload
        self.log = log
        self.slots = simpy.Resource(env, capacity=spec.concurrent_jobs)
        figures = device.training
        self.mfu = spec.mfu if spec.mfu is not None else figures.mfu.value
        self.startup_s = spec.startup if spec.startup is not None else figures.startup.value

    def cost(self, samples: int, epochs: int) -> TrainingCost:
        """Duration, energy and price of a job over ``samples`` x ``epochs`` on this cluster."""
        return training_cost(
            self.device, self.workload, chips=self.spec.chips, mfu=self.mfu,
            pue=self.spec.pue, startup_s=self.startup_s, samples=samples,
            epochs=epochs, checkpoint_interval_s=self.spec.checkpoint_interval,
            checkpoint_bandwidth=self.spec.checkpoint_bandwidth,
        )

    def run(self, job: TrainingJob):
        """SimPy process: wait for a slot, train for the modelled duration, return the cost."""
        with self.slots.request() as slot:
            yield slot
            started = self.env.now
            cost = self.cost(job.samples, job.epochs)
            yield self.env.timeout(cost.duration_s)
        self.log.record(
            "training_jobs", job=job.job_id, cluster=self.spec.name, device=self.device.id,
            chips=self.spec.chips, samples=job.samples, epochs=job.epochs,
            t_submit_s=job.submitted_s, t_start_s=started, t_end_s=self.env.now,
            flops=cost.flops, checkpoint_s=cost.checkpoint_s, energy_j=cost.energy_j, cost_usd=cost.cost_usd,
        )
        return cost
