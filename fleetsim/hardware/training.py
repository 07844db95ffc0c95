"""Cloud training time, energy and cost of a detector fine-tune on a cluster.

    FLOPs        = 3 x (2 x MACs) x samples x epochs        (backward ~ 2x forward)
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
cluster may override both (``cloud.clusters[].mfu``, ``startup``).
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
class TrainingCost:
    """Simulated duration, energy and price of one training job."""

    flops: float
    duration_s: float
    compute_s: float
    checkpoints: int
    checkpoint_s: float
    energy_j: float
    cost_usd: float


def training_cost(
    device: DeviceSpec,
    workload: Workload,
    *,
    chips: int,
    mfu: float,
    pue: float,
    startup_s: float,
    samples: int,
    epochs: int,
    checkpoint_interval_s: float = math.inf,
    checkpoint_bandwidth: float = math.inf,
) -> TrainingCost:
    """Cost of training ``workload`` on ``samples`` x ``epochs`` with ``chips`` devices."""
    if TRAINING_PRECISION not in device.peak:
        raise FleetsimError(f"{device.id} has no {TRAINING_PRECISION} peak; cannot cost training "
                            f"(allowed: a device with a {TRAINING_PRECISION} peak)")
    flops = BACKWARD_FACTOR * 2 * workload.macs * samples * epochs
    compute_s = flops / (chips * device.peak[TRAINING_PRECISION].value * mfu)
    checkpoints = max(1, math.ceil(compute_s / checkpoint_interval_s))
    write_s = CHECKPOINT_BYTES_PER_PARAM * workload.spec.params.value / checkpoint_bandwidth
    checkpoint_s = checkpoints * write_s
    duration_s = startup_s + compute_s + checkpoint_s
    it_energy = chips * (device.active_power.value * compute_s
                         + device.idle_power.value * (startup_s + checkpoint_s))
    price_per_s = device.hourly_price.value if device.hourly_price else 0.0  # held in USD/s
    return TrainingCost(
        flops=flops,
        duration_s=duration_s,
        compute_s=compute_s,
        checkpoints=checkpoints,
        checkpoint_s=checkpoint_s,
        energy_j=it_energy * pue,
        cost_usd=chips * price_per_s * duration_s,
    )
