"""Cloud training time, energy and cost of a detector fine-tune on a cluster.

    FLOPs    = 3 * (2 * MACs) * samples * epochs        (backward ~ 2x forward)
    time     = startup + FLOPs / (chips * peak[bf16] * MFU)
    energy   = chips * (active power * compute time + idle power * startup) * PUE
    cost     = chips * hourly price * time
"""

from __future__ import annotations

from dataclasses import dataclass

from fleetsim.errors import FleetsimError
from fleetsim.hardware.specs import DeviceSpec, WorkloadSpec

TRAINING_PRECISION = "bf16"
BACKWARD_FACTOR = 3.0
"""Training step FLOPs over forward FLOPs (forward + backward of activations and weights)."""


@dataclass(frozen=True)
class TrainingCost:
    """Simulated duration, energy and price of one training job."""

    flops: float
    duration_s: float
    compute_s: float
    energy_j: float
    cost_usd: float


def training_cost(
    device: DeviceSpec,
    workload: WorkloadSpec,
    *,
    chips: int,
    mfu: float,
    pue: float,
    startup_s: float,
    samples: int,
    epochs: int,
) -> TrainingCost:
    """Cost of training ``workload`` on ``samples`` x ``epochs`` with ``chips`` devices."""
    if TRAINING_PRECISION not in device.peak:
        raise FleetsimError(f"{device.id} has no {TRAINING_PRECISION} peak; cannot cost training")
    flops = BACKWARD_FACTOR * 2 * workload.macs.value * samples * epochs
    compute_s = flops / (chips * device.peak[TRAINING_PRECISION].value * mfu)
    duration_s = startup_s + compute_s
    it_energy = chips * (device.active_power.value * compute_s + device.idle_power.value * startup_s)
    price_per_s = device.hourly_price.value if device.hourly_price else 0.0  # held in USD/s
    return TrainingCost(
        flops=flops,
        duration_s=duration_s,
        compute_s=compute_s,
        energy_j=it_energy * pue,
        cost_usd=chips * price_per_s * duration_s,
    )
