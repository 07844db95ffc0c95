"""Training clusters: node pools behind one job queue; duration, energy and cost from the hardware model.

A job runs on one whole node of a pool. The queue is ordered and placed by the cluster's
``scheduling`` (see ``fleetsim.scenario.cloud.Cluster``). On a spot node, preemptions arrive as a
Poisson process at the pool's rate while the job holds the node: the work since the last
checkpoint is lost, the node is replaced after ``restock``, and the job goes back to the queue
to resume from its checkpoint on the next free node, paying start-up again. Each stay on a node
is priced at its pool's rate (spot or on demand) and costed by ``fleetsim.hardware.training``.

Every submitted job is in the ``training_events`` table (submitted, started, preempted,
finished), so a job still queued or running at the horizon is counted, never lost. Each
``started`` row bills its stay's node time within the run (to its finish, its preemption or
the horizon), so the time of preempted and unfinished jobs is paid for too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import simpy

from fleetsim.hardware.specs import DeviceSpec
from fleetsim.hardware.training import (
    Attempt,
    TrainingCost,
    TrainingWork,
    attempt,
    checkpoint_count,
    checkpoint_write_seconds,
    compute_seconds,
    node_energy_j,
    training_cost,
    training_flops,
)
from fleetsim.hardware.workload import Workload
from fleetsim.metrics.events import EventLog
from fleetsim.rng import component_key, counter_uniform
from fleetsim.scenario.cloud import Cluster, NodePool


@dataclass
class TrainingJob:
    """One retraining request and what has happened to it on the cluster so far."""

    job_id: int
    samples: int  # frames trained on: uploaded samples plus replayed ones
    epochs: int
    submitted_s: float
    done: float = 0.0  # share of the work kept in checkpoints
    stays: int = 0  # times it held a node
    preemptions: int = 0
    queued_since_s: float | None = None
    queued_s: float = 0.0
    started_s: float | None = None
    restart_s: float = 0.0  # start-up paid by the stays a preemption ended
    lost_s: float = 0.0  # node time thrown away since the last checkpoint, over all preemptions
    checkpoint_s: float = 0.0
    energy_j: float = 0.0
    cost_usd: float = 0.0
    finished: simpy.Event | None = field(default=None, repr=False)


@dataclass
class Pool:
    """A scenario node pool resolved against its device: figures per node and node availability."""

    spec: NodePool
    device: DeviceSpec
    mfu: float
    startup_s: float
    price_per_s: float  # per chip
    preemption_rate: float  # per second while a job holds a node; 0 on demand
    free_at: list[float]  # per node: when it can next take a job (estimated while busy)
    busy: list[bool]


class TrainingCluster:
    """The node pools of one ``cloud.clusters`` entry and the job queue in front of them."""

    def __init__(self, env: simpy.Environment, spec: Cluster, devices: dict[str, DeviceSpec],
                 workload: Workload | TrainingWork, log: EventLog, seed: int = 0,
                 horizon_s: float = math.inf):
        self.env = env
        self.horizon_s = horizon_s  # the end of the run: node time after it is not billed
        self.spec = spec
        self.workload = workload  # what each job trains (a workload: that one model for the job's epochs)
        self.log = log
        self.seed = seed
        self.pools = [_resolve(p, spec, devices[p.device]) for p in spec.node_pools]
        self.queue: list[TrainingJob] = []
        self.write_s = checkpoint_write_seconds(workload, spec.checkpoint_bandwidth)

    def cost(self, samples: int, epochs: int) -> TrainingCost:
        """Modelled (preemption-free) duration, energy and price of a job submitted now, on the pool
        the scheduling would place it on."""
        probe = TrainingJob(job_id=0, samples=samples, epochs=epochs, submitted_s=self.env.now)
        pool = next(self.pools[p] for job, p, _, _ in self._plan([*self.queue, probe]) if job is probe)
        return self._pool_cost(pool, samples, epochs)

    def run(self, job: TrainingJob):
        """SimPy process: queue ``job``, let it run (and resume after preemptions) until it finishes."""
        job.finished = self.env.event()
        self._event("submitted", job)
        self._enqueue(job)
        self._dispatch()
        yield job.finished

    def remaining_s(self, job: TrainingJob, pool: Pool) -> float:
        """Compute seconds ``job`` still needs on ``pool``."""
        return (1.0 - job.done) * self._compute_s(pool, job)

    def modelled_s(self, job: TrainingJob, pool: Pool) -> float:
        """Preemption-free time of ``job``'s next stay on ``pool``: start-up, compute, checkpoints."""
        remaining = self.remaining_s(job, pool)
        checkpoints = checkpoint_count(remaining, self.spec.checkpoint_interval)
        return pool.startup_s + remaining + checkpoints * self.write_s

    def preemption_after_s(self, job: TrainingJob, pool: Pool) -> float:
        """Time into ``job``'s next stay at which ``pool`` takes the node back (inf on demand): a
        unit exponential draw per (seed, cluster, job, stay), scaled by the pool's rate."""
        if pool.preemption_rate == 0:
            return math.inf
        key = component_key(self.seed, "spot_preemptions", self.spec.name, job.job_id)
        return float(-np.log(counter_uniform(key, job.stays))) / pool.preemption_rate

    def _plan(self, jobs: list[TrainingJob]) -> list[tuple[TrainingJob, int, int, float]]:
        """(job, pool index, node index, start time) for ``jobs`` in queue order, by list scheduling
        on when each node is expected to be free."""
        now = self.env.now
        avail = {(p, n): max(now, t)
                 for p, pool in enumerate(self.pools) for n, t in enumerate(pool.free_at)}
        plan = []
        for job in self._ordered(jobs):
            (p, n), start = self._place(job, avail)
            avail[(p, n)] = start + self.modelled_s(job, self.pools[p])
            plan.append((job, p, n, start))
        return plan

    def _ordered(self, jobs: list[TrainingJob]) -> list[TrainingJob]:
        if self.spec.scheduling == "shortest_first":
            return sorted(jobs, key=lambda j: (self._remaining_flops(j), j.submitted_s, j.job_id))
        return sorted(jobs, key=lambda j: (j.submitted_s, j.job_id))

    def _place(self, job: TrainingJob, avail: dict) -> tuple[tuple[int, int], float]:
        """The node ``job`` goes to and when it can start there (ties: pool order, then node order)."""
        if self.spec.scheduling == "earliest_finish":
            node = min(avail, key=lambda pn: (avail[pn] + self.modelled_s(job, self.pools[pn[0]]), pn))
        else:
            node = min(avail, key=lambda pn: (avail[pn], pn))
        return node, avail[node]

    def _dispatch(self) -> None:
        """Start every planned job whose node is free now."""
        now = self.env.now
        for job, p, n, start in self._plan(self.queue):
            pool = self.pools[p]
            if start <= now and not pool.busy[n] and pool.free_at[n] <= now:
                self.queue.remove(job)
                job.queued_s += now - job.queued_since_s
                pool.busy[n] = True
                pool.free_at[n] = now + self.modelled_s(job, pool)
                self.env.process(self._stay(job, p, n))

    def _stay(self, job: TrainingJob, p: int, n: int):
        """SimPy process: ``job`` holds node ``n`` of pool ``p`` until it finishes or is preempted."""
        pool = self.pools[p]
        if job.started_s is None:
            job.started_s = self.env.now
        stay = attempt(pool.startup_s, self.remaining_s(job, pool), self.spec.checkpoint_interval,
                       self.write_s, self.preemption_after_s(job, pool))
        within = self.horizon_s - self.env.now  # the stay up to the horizon, as if preempted there
        billed = stay if stay.held_s < within else attempt(
            pool.startup_s, self.remaining_s(job, pool), self.spec.checkpoint_interval, self.write_s, within)
        self._event("started", job, pool, n, *self._price(pool, billed))
        yield self.env.timeout(stay.held_s)
        self._account(job, pool, stay)
        pool.busy[n] = False
        if stay.finished:
            pool.free_at[n] = self.env.now
            self._finish(job, pool)
        else:
            pool.free_at[n] = self.env.now + pool.spec.restock
            self._event("preempted", job, pool, n, lost_s=stay.lost_s, restart_s=stay.startup_s)
            self._enqueue(job)
            if pool.spec.restock > 0:
                self.env.process(self._restocked(pool.spec.restock))
        self._dispatch()

    def _restocked(self, delay_s: float):
        yield self.env.timeout(delay_s)
        self._dispatch()

    def _account(self, job: TrainingJob, pool: Pool, stay: Attempt) -> None:
        """Add one stay's work, losses, energy and price to ``job``."""
        job.stays += 1
        job.done = 1.0 if stay.finished else job.done + stay.saved_s / self._compute_s(pool, job)
        job.checkpoint_s += stay.checkpoint_s
        job.lost_s += stay.lost_s
        if not stay.finished:
            job.preemptions += 1
            job.restart_s += stay.startup_s
        usd, joules = self._price(pool, stay)
        job.energy_j += joules
        job.cost_usd += usd

    def _price(self, pool: Pool, stay: Attempt) -> tuple[float, float]:
        """US dollars and facility joules of one stay on a node of ``pool``."""
        joules = node_energy_j(pool.device, pool.spec.chips, self.spec.pue, stay.compute_s,
                               stay.held_s - stay.compute_s)
        return pool.spec.chips * pool.price_per_s * stay.held_s, joules

    def _finish(self, job: TrainingJob, pool: Pool) -> None:
        self._event("finished", job, pool)
        self.log.record(
            "training_jobs", job=job.job_id, cluster=self.spec.name, pool=pool.spec.name,
            device=pool.device.id, capacity=pool.spec.capacity, chips=pool.spec.chips, samples=job.samples,
            epochs=job.epochs, t_submit_s=job.submitted_s, t_start_s=job.started_s, t_end_s=self.env.now,
            flops=training_flops(self.workload, job.samples, job.epochs), queued_s=job.queued_s,
            checkpoint_s=job.checkpoint_s, preemptions=job.preemptions, lost_s=job.lost_s,
            restart_s=job.restart_s, energy_j=job.energy_j, cost_usd=job.cost_usd,
        )
        job.finished.succeed(job)

    def _enqueue(self, job: TrainingJob) -> None:
        job.queued_since_s = self.env.now
        self.queue.append(job)

    def _event(self, event: str, job: TrainingJob, pool: Pool | None = None, node: int | None = None,
               cost_usd: float = 0.0, energy_j: float = 0.0, lost_s: float = 0.0,
               restart_s: float = 0.0) -> None:
        self.log.record("training_events", t_s=self.env.now, job=job.job_id, cluster=self.spec.name,
                        event=event, pool=pool.spec.name if pool else None, node=node, lost_s=lost_s,
                        restart_s=restart_s, cost_usd=cost_usd, energy_j=energy_j)

    def _remaining_flops(self, job: TrainingJob) -> float:
        return training_flops(self.workload, job.samples, job.epochs) * (1.0 - job.done)

    def _compute_s(self, pool: Pool, job: TrainingJob) -> float:
        return compute_seconds(pool.device, self.workload, chips=pool.spec.chips, mfu=pool.mfu,
                               samples=job.samples, epochs=job.epochs)

    def _pool_cost(self, pool: Pool, samples: int, epochs: int) -> TrainingCost:
        return training_cost(pool.device, self.workload, chips=pool.spec.chips, mfu=pool.mfu,
                             pue=self.spec.pue, startup_s=pool.startup_s, samples=samples, epochs=epochs,
                             checkpoint_interval_s=self.spec.checkpoint_interval,
                             checkpoint_bandwidth=self.spec.checkpoint_bandwidth,
                             price_per_s=pool.price_per_s)


def _resolve(spec: NodePool, cluster: Cluster, device: DeviceSpec) -> Pool:
    """A pool's figures: its own overrides, then the cluster's, then the device's."""
    figures = device.training
    mfu = next(v for v in (spec.mfu, cluster.mfu, figures.mfu.value if figures else None) if v is not None)
    startup = next(v for v in (spec.startup, cluster.startup, figures.startup.value if figures else None)
                   if v is not None)
    spot = spec.capacity == "spot"
    price = device.spot.hourly_price if spot else device.hourly_price
    rate = (spec.preemption_rate if spec.preemption_rate is not None else device.spot.preemption_rate.value) \
        if spot else 0.0
    return Pool(spec=spec, device=device, mfu=mfu, startup_s=startup,
                price_per_s=price.value if price else 0.0, preemption_rate=rate,
                free_at=[0.0] * spec.nodes, busy=[False] * spec.nodes)
