"""The scenario's cloud section: training clusters, retraining policy, fine-tuning, rollout."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PositiveInt, model_validator

from fleetsim.scenario.base import Strict, _unique_names
from fleetsim.scenario.kinds import Kinds
from fleetsim.scenario.labeling import Labeling
from fleetsim.scenario.placement import InferenceServers
from fleetsim.scenario.types import (
    DataRate,
    DataSize,
    Duration,
    Energy,
    Fraction,
    Frequency,
    Name,
    NonNegativeDuration,
    Price,
)


class NodePool(Strict):
    """Identical nodes of one cloud device; a job runs on one whole node."""

    name: Name = Field(description="Pool name, unique within its cluster.")
    device: str = Field(description="Cloud hardware model id from hardware_models/ (a GPU, a TPU, or a "
                        "CPU-only node such as cpu_server).")
    nodes: PositiveInt = Field(1, description="Nodes in the pool: the jobs it runs at once.")
    chips: PositiveInt = Field(description="Accelerators (GPUs, TPU chips; for a CPU device, whole servers) "
                               "per node, all used by the job on it.")
    capacity: Literal["on_demand", "spot"] = Field(
        "on_demand", description="'on_demand': never taken away; 'spot': priced and preempted at the "
        "device's spot figures (hardware_models/cloud/<device>.yaml, spot).")
    mfu: Fraction | None = Field(
        None, description="Model FLOPs utilisation on this pool; default: the cluster's mfu, else the "
        "device's training.mfu.")
    startup: NonNegativeDuration | None = Field(
        None, description="Time to provision and initialise a node, paid by every attempt (again after "
        "each preemption); default: the cluster's startup, else the device's training.startup.")
    preemption_rate: Frequency | None = Field(
        None, description="Spot only: mean preemptions per hour of a running job, e.g. '0.5 / h' (a "
        "what-if; give its source in the cluster's source); default: the device's spot.preemption_rate.")
    restock: NonNegativeDuration = Field(
        "0 s", description="Spot only: time until a preempted node is replaced and can take a job again; "
        "a policy assumption (no published figure), default 0 s.")

    @model_validator(mode="after")
    def _spot_fields(self) -> NodePool:
        if self.capacity == "on_demand" and (self.preemption_rate is not None or self.restock > 0):
            raise ValueError("preemption_rate and restock apply to spot pools only (allowed: capacity: spot, "
                             "or leave them out)")
        return self


Scheduling = Literal["fifo", "shortest_first", "earliest_finish"]


class Cluster(Strict):
    """Training nodes and the job queue in front of them.

    Either one device (``device``, ``chips``, ``concurrent_jobs``: one on-demand pool named after
    the cluster) or ``pools`` of possibly different devices, on-demand or spot.
    """

    name: Name = Field(description="Cluster name referred to by the retraining policy.")
    device: str | None = Field(None, description="One-device shorthand: cloud hardware model id.")
    chips: PositiveInt | None = Field(None, description="One-device shorthand: accelerators one job uses.")
    concurrent_jobs: PositiveInt | None = Field(
        None, description="One-device shorthand: jobs run at once (its nodes); default 1.")
    pools: Annotated[list[NodePool], _unique_names("pool")] | None = Field(
        None, min_length=1, description="Node pools (instead of device, chips and concurrent_jobs).")
    scheduling: Scheduling = Field(
        "fifo", description="Job queue order and placement. 'fifo': by submission; each job takes the first "
        "free node in pool order. 'shortest_first': the waiting job with the least remaining work first, "
        "placed as fifo. 'earliest_finish': by submission; each job goes to the pool where it would finish "
        "first given its modelled duration there and when a node frees (it may wait for a faster pool).")
    mfu: Fraction | None = Field(
        None, description="Model FLOPs utilisation of a detector fine-tune, in (0, 1]; default: the "
        "device's training.mfu (a published CNN training run). A pool's mfu overrides it.")
    pue: float = Field(1.1, ge=1.0, le=3.0, description="Data-centre power usage effectiveness.")
    startup: NonNegativeDuration | None = Field(
        None, description="Fixed per-job time to provision, compile and stage data; default: the "
        "device's training.startup (in-job initialisation only, no node provisioning). A pool's startup "
        "overrides it.")
    checkpoint_interval: Duration = Field(
        "10 min", description="Compute time between checkpoints (one more is written at the end); a policy "
        "choice, not a hardware figure.")
    checkpoint_bandwidth: DataRate = Field(
        "1000 MiB/s", description="Rate a checkpoint (weights + optimizer state) is written to storage. "
        "Default: the most one Amazon EBS gp3 volume can be provisioned for, 1,000 MiB/s (Amazon EC2 API "
        "reference, CreateVolume, Throughput).")
    source: str = Field(min_length=1, description="Where mfu, pue, startup and checkpointing come from.")

    @model_validator(mode="after")
    def _one_form(self) -> Cluster:
        shorthand = [f for f in ("device", "chips", "concurrent_jobs") if getattr(self, f) is not None]
        if self.pools is not None and shorthand:
            raise ValueError("give pools or the one-device shorthand, not both "
                             f"(remove: {', '.join(shorthand)})")
        if self.pools is None and (self.device is None or self.chips is None):
            raise ValueError("a cluster needs pools, or device and chips (allowed: pools: [{name, device, "
                             "nodes, chips, capacity}], or device: a100 with chips: 1)")
        return self

    @property
    def node_pools(self) -> list[NodePool]:
        """The pools, with the one-device shorthand read as one on-demand pool named after the cluster."""
        if self.pools is not None:
            return list(self.pools)
        return [NodePool(name=self.name, device=self.device, nodes=self.concurrent_jobs or 1,
                         chips=self.chips)]


class NeverRetrain(Strict):
    """Keep the shipped model for the whole run."""

    kind: Literal["never"] = Field(description="Policy kind.")


class Budget(Strict):
    """Caps on what retraining may spend in any 24 hours; a job that would exceed one is skipped."""

    usd_per_day: Price | None = Field(
        None, description="Most US dollars of chip-hours per day, e.g. '50 USD'.")
    energy_per_day: Energy | None = Field(
        None, description="Most facility energy (with PUE) per day, e.g. '20 kWh'.")


class JobPolicy(Strict):
    """What every policy that starts training jobs has in common."""

    cluster: Name = Field(description="Cluster that runs the jobs (cloud.clusters).")
    epochs: PositiveInt = Field(1, description="Passes over the training samples per job.")
    budget: Budget = Field(default_factory=Budget, description="Daily spending caps (none by default).")


class PeriodicRetrain(JobPolicy):
    """Retrain on a fixed interval when enough new samples have arrived."""

    kind: Literal["periodic"] = Field(description="Policy kind.")
    interval: Duration = Field(description="Time between retraining decisions, e.g. '30 min'.")
    min_samples: PositiveInt = Field(
        1, description="New samples needed since the last job for a job to start."
    )


class SampleCountRetrain(JobPolicy):
    """Retrain as soon as a given number of new labelled samples has arrived."""

    kind: Literal["sample_count"] = Field(description="Policy kind.")
    samples: PositiveInt = Field(description="New samples since the last job that start the next one.")
    check_every: Duration = Field("1 min", description="How often the sample count is looked at.")


class DriftRetrain(JobPolicy):
    """Retrain when the fleet's detection confidence drops (a label-free sign of drift)."""

    kind: Literal["drift"] = Field(description="Policy kind.")
    window: Duration = Field(
        "10 min", description="Span over which the fleet's mean detection confidence is measured.")
    drop: Fraction = Field(
        0.15, description="Relative drop of that mean below its reference that starts a job; the "
        "reference is the first window of the run, and the first window after each deployment.")
    min_samples: PositiveInt = Field(1, description="New samples needed for a job to start.")
    check_every: Duration = Field("1 min", description="How often the confidence is looked at.")


RETRAINING_KINDS = Kinds([NeverRetrain, PeriodicRetrain, SampleCountRetrain, DriftRetrain])
"""Retraining policy kinds; ``fleetsim.cloud.policy.register_trigger`` adds one."""
RetrainingPolicy = RETRAINING_KINDS.annotation()


class FineTune(Strict):
    """How a training job really fine-tunes the detector (in torch, on the host's CPU)."""

    max_samples: PositiveInt = Field(
        256, description="A job trains on at most this many of the most recent uploaded samples.")
    replay: float = Field(
        1.0, ge=0, le=10, description="Replayed clear-day frames per new sample, against forgetting.")
    learning_rate: float = Field(1e-3, gt=0, le=1, description="Peak learning rate (one-cycle AdamW).")
    batch_size: PositiveInt = Field(64, description="Frames per optimiser step.")
    validation_frames: PositiveInt = Field(
        64, description="Held-out frames per condition each new model is scored on.")
    min_gain: float = Field(
        0.0, ge=-1, le=1, description="Validation gate: a new model is deployed only if its mean held-out "
        "mAP@0.5 over the conditions beats the deployed model's by more than this (a negative value "
        "tolerates a loss; -1 deploys every model).")


class Rollout(Strict):
    """How a new model reaches the fleet: canary first, then everyone (policy choices).

    Another strategy subclasses this (chunked downloads stay the same) with its own ``kind``
    and registers itself (``fleetsim.cloud.rollout.register_rollout``).
    """

    kind: Literal["staged"] = Field(
        "staged", description="Rollout strategy. 'staged': the canary vehicles first, then the rest of the "
        "fleet, or a rollback.")
    chunk_size: DataSize = Field("4 MiB", description="Size of one download chunk (a range request).")
    resume_timeout: Duration = Field(
        "30 s", description="A chunk paused longer than this (no network) starts over when the "
        "network returns; completed chunks are kept.")
    canary_fraction: float = Field(
        0.1, ge=0, le=1, description="Share of vehicles (at least one) that get a new model first; "
        "0 or 1: the whole fleet at once.")
    canary_period: Duration = Field(
        "15 min", description="How long the canary runs the new model before the decision.")
    canary_signal: Literal["map50", "confidence"] = Field(
        "map50", description="What the canary decision compares: mAP@0.5 of the detected frames "
        "against their ground truth (an audited sample), or the label-free mean detection confidence "
        "(blind to a model that is confidently wrong).")
    max_regression: Fraction = Field(
        0.05, description="Roll back when the canary's signal falls this far (relative) below the "
        "rest of the fleet's over the canary period.")


ROLLOUT_KINDS = Kinds([Rollout], default="staged")
"""Rollout strategies; ``fleetsim.cloud.rollout.register_rollout`` adds one."""
RolloutStrategy = ROLLOUT_KINDS.annotation()


class Cloud(Strict):
    """Training clusters and the policy that decides when to retrain."""

    region: Name = Field("cloud", description="Cloud region holding the sample store and the model "
                         "registry (network.regions).")
    clusters: Annotated[list[Cluster], _unique_names("cluster")] = Field(
        min_length=1, description="Training clusters."
    )
    rollout: RolloutStrategy = Field(default_factory=Rollout, description="Over-the-air model downloads.")
    inference: InferenceServers | None = Field(
        None, description="Accelerators in the cloud region detecting offloaded frames "
        "(fleet.groups[].placement: cloud).")
    fine_tune: FineTune = Field(default_factory=FineTune, description="How jobs fine-tune the detector.")
    retraining: RetrainingPolicy = Field(
        default_factory=lambda: NeverRetrain(kind="never"), description="Retraining policy."
    )
    labeling: Labeling = Field(default_factory=Labeling, description="Sample store retention and labelling.")

    @model_validator(mode="after")
    def _reachable_trigger(self) -> Cloud:
        policy, limit = self.retraining, self.labeling.retention.max_samples
        field, needed = (("samples", policy.samples) if isinstance(policy, SampleCountRetrain)
                         else ("min_samples", getattr(policy, "min_samples", 1)))
        if limit is not None and needed > limit:
            raise ValueError(f"retraining.{field} ({needed}) exceeds labeling.retention.max_samples "
                             f"({limit}): only retained samples count, so no job could start (allowed: "
                             "at most max_samples)")
        return self
