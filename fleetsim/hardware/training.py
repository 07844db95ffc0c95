"""Cloud training time, energy and cost of a detector fine-tune on a cluster.

    FLOPs        = 3 x (2 x MACs) x samples x epochs        (backward ~ 2x forward)
                   summed over what the job trains (``TrainingWork``); a model trained for one epoch
                   whatever the job's counts one, a model only run forward 2 x MACs x samples
    compute time = FLOPs / (chips x peak[training precision] x MFU)
    checkpoints  = one every checkpoint interval of compute, and one at the end; each writes
                   weights + Adam moments (3 x fp32 per parameter) at the checkpoint bandwidth
    time         = start-up + compute time + checkpoint time
    energy       = chips x (active power x compute time + idle power x (start-up + checkpoints)) x PUE
    cost         = chips x price per chip-hour x time

GPUs and TPUs differ in the figures each device file gives: the bf16 tensor-core or MXU
peak, power, price, and ``training`` (MFU and in-job start-up, from MLPerf Training
ResNet-50 logs where one exists). On the same CNN benchmark a TPU v4 reaches about 30 % MFU,
an A100 about 20-27 % and an H100 about 17 % (faster chips are harder to keep fed), while a
TPU job first compiles its XLA program: 262 s of start-up against 48-54 s on GPUs. A
cluster or one of its pools may override both (``cloud.clusters[].mfu``, ``startup``,
``cloud.clusters[].pools[].mfu``, ``startup``).

A job on a spot node may be preempted; ``attempt`` says what one stay on a node achieved:
the compute it saved in checkpoints, and the node time lost since the last one. The job
resumes from that checkpoint on the next node, paying start-up again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fleetsim.errors import FleetsimError
from fleetsim.hardware.specs import DeviceSpec
from fleetsim.hardware.workload import Workload

TRAINING_PRECISION = "bf16"
BACKWARD_FACTOR = 3.0
"""Training step FLOPs over forward FLOPs (forward + backward of activations and weights)."""
CHECKPOINT_BYTES_PER_PARAM = 12
"""fp32 weights plus the two fp32 Adam moments."""


@dataclass(frozen=True)
class TrainingWork:
    """What one job trains on its samples: models fine-tuned for the job's epochs, models trained for one
    epoch whatever the job's epochs (a quantization-aware pass), models only run forward once (a
    teacher's soft targets). Checkpoints hold the weights of every model it trains."""

    every_epoch: tuple[Workload, ...]
    one_epoch: tuple[Workload, ...] = ()
    forward: tuple[Workload, ...] = ()

    @property
    def params(self) -> float:
        return sum(w.spec.params.value for w in (*self.every_epoch, *self.one_epoch))


def _work(work: Workload | TrainingWork) -> TrainingWork:
    return work if isinstance(work, TrainingWork) else TrainingWork((work,))


@dataclass(frozen=True)
class TrainingCost:
    """Simulated duration, energy and price of one training job."""

    flops: float
    duration_s: float
    compute_s: float
    checkpoints: int
    checkpoint_s: float
    energy_j: float
    cost_usd: float


def compute_seconds(device: DeviceSpec, workload: Workload | TrainingWork, *, chips: int, mfu: float,
                    samples: int, epochs: int) -> float:
    """Pure compute time of a job over ``samples`` x ``epochs`` on ``chips`` devices."""
    if TRAINING_PRECISION not in device.peak:
        raise FleetsimError(f"{device.id} has no {TRAINING_PRECISION} peak; cannot cost training "
                            f"(allowed: a device with a {TRAINING_PRECISION} peak)")
    return training_flops(workload, samples, epochs) / (chips * device.peak[TRAINING_PRECISION].value * mfu)


def training_flops(workload: Workload | TrainingWork, samples: int, epochs: int) -> float:
    """Model FLOPs of training on ``samples`` x ``epochs``."""
    work = _work(workload)
    return (sum(BACKWARD_FACTOR * 2 * w.macs * samples * epochs for w in work.every_epoch)
            + sum(BACKWARD_FACTOR * 2 * w.macs * samples for w in work.one_epoch)
            + sum(2 * w.macs * samples for w in work.forward))


def checkpoint_write_seconds(workload: Workload | TrainingWork, bandwidth: float) -> float:
    """Time to write one checkpoint (weights + Adam moments) at ``bandwidth`` bytes/s."""
    return CHECKPOINT_BYTES_PER_PARAM * _work(workload).params / bandwidth


def checkpoint_count(compute_s: float, interval_s: float) -> int:
    """Checkpoints of ``compute_s`` of compute: one per interval, the last at the end."""
    return max(1, math.ceil(round(compute_s / interval_s, 9)))


def node_energy_j(device: DeviceSpec, chips: int, pue: float, compute_s: float, idle_s: float) -> float:
    """Facility energy of ``chips`` devices computing ``compute_s`` and idling ``idle_s``."""
    return chips * (device.active_power.value * compute_s + device.idle_power.value * idle_s) * pue


def training_cost(
    device: DeviceSpec,
    workload: Workload | TrainingWork,
    *,
    chips: int,
    mfu: float,
    pue: float,
    startup_s: float,
    samples: int,
    epochs: int,
    checkpoint_interval_s: float = math.inf,
    checkpoint_bandwidth: float = math.inf,
    price_per_s: float | None = None,
) -> TrainingCost:
    """Cost of training ``workload`` on ``samples`` x ``epochs`` with ``chips`` devices, without
    preemptions; ``price_per_s`` per chip defaults to the device's on-demand hourly_price."""
    compute_s = compute_seconds(device, workload, chips=chips, mfu=mfu, samples=samples, epochs=epochs)
    checkpoints = checkpoint_count(compute_s, checkpoint_interval_s)
    checkpoint_s = checkpoints * checkpoint_write_seconds(workload, checkpoint_bandwidth)
    duration_s = startup_s + compute_s + checkpoint_s
    if price_per_s is None:
        price_per_s = device.hourly_price.value if device.hourly_price else 0.0  # held in USD/s
    return TrainingCost(
        flops=training_flops(workload, samples, epochs),
        duration_s=duration_s,
        compute_s=compute_s,
        checkpoints=checkpoints,
        checkpoint_s=checkpoint_s,
        energy_j=node_energy_j(device, chips, pue, compute_s, startup_s + checkpoint_s),
        cost_usd=chips * price_per_s * duration_s,
    )


@dataclass(frozen=True)
class Attempt:
    """One stay of a job on a node: start-up, then compute with a checkpoint every interval."""

    held_s: float  # node time used
    startup_s: float  # start-up paid (all of it, or up to a preemption during it)
    compute_s: float  # compute run, saved or not
    saved_s: float  # compute kept in completed checkpoints
    checkpoints: int  # checkpoints completed
    checkpoint_s: float  # time writing the completed checkpoints
    finished: bool

    @property
    def lost_s(self) -> float:
        """Node time the preemption threw away: compute and writing since the last checkpoint."""
        return self.held_s - self.startup_s - self.saved_s - self.checkpoint_s


def attempt(startup_s: float, remaining_s: float, interval_s: float, write_s: float,
            preempt_after_s: float = math.inf) -> Attempt:
    """What a stay on a node achieves for a job with ``remaining_s`` of compute left (resumed at a
    checkpoint, so checkpoints stay ``interval_s`` of compute apart), when the node is taken away
    ``preempt_after_s`` after the stay began (``inf``: never).

    >>> attempt(60.0, 100.0, 40.0, 5.0).held_s          # 60 + 100 + 3 checkpoints x 5 s
    175.0
    >>> attempt(60.0, 100.0, 40.0, 5.0, 130.0).lost_s   # 1st checkpoint at 105 s, then 25 s lost
    25.0
    """
    segments = checkpoint_count(remaining_s, interval_s)
    full_s = startup_s + remaining_s + segments * write_s
    if preempt_after_s >= full_s:
        return Attempt(full_s, startup_s, remaining_s, remaining_s, segments, segments * write_s, True)
    if preempt_after_s < startup_s:
        return Attempt(preempt_after_s, preempt_after_s, 0.0, 0.0, 0, 0.0, False)
    into = preempt_after_s - startup_s
    done = min(int(into // (interval_s + write_s)), segments - 1)
    into -= done * (interval_s + write_s)
    length = min(interval_s, remaining_s - done * interval_s)
    return Attempt(preempt_after_s, startup_s, done * interval_s + min(into, length), done * interval_s,
                   done, done * write_s, False)
