"""Edge inference latency and energy from a device spec and a workload profile.

Latency of one batch-1 inference is a fixed call overhead plus the workload's
operations (2 per MAC) over the device's peak at that precision, scaled by an
efficiency fitted to the device's published calibration points:

    latency = overhead + 2 * MACs / (peak[precision] * efficiency[precision])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fleetsim.errors import FleetsimError
from fleetsim.hardware.catalog import Catalog
from fleetsim.hardware.specs import CalibrationPoint, DeviceSpec, WorkloadSpec


@dataclass(frozen=True)
class InferenceCost:
    """Time and energy of one inference on one device."""

    latency_s: float
    energy_j: float
    efficiency: float


def supported(device: DeviceSpec, precision: str) -> bool:
    """Whether the device has a peak figure (and so can run) at ``precision``."""
    return precision in device.peak


def _overhead_s(device: DeviceSpec) -> float:
    return device.call_overhead.value if device.call_overhead else 0.0


def fitted_efficiency(device: DeviceSpec, precision: str, catalog: Catalog,
                      points: list[CalibrationPoint] | None = None) -> float:
    """Geometric mean of achieved/peak over calibration ``points`` at ``precision``
    (the device's own calibration points when None)."""
    peak = device.peak[precision].value
    ratios = []
    for point in device.calibration if points is None else points:
        if point.precision != precision:
            continue
        work_s = point.latency - _overhead_s(device)
        if work_s <= 0:
            raise FleetsimError(
                f"{device.id}: calibration latency {point.latency} s of {point.workload} is not "
                f"above the call overhead {_overhead_s(device)} s"
            )
        ideal_s = 2 * catalog.workload(point.workload).macs.value / peak
        ratios.append(ideal_s / work_s)
    if not ratios:
        raise FleetsimError(
            f"{device.id}: no calibration point at {precision} (allowed precisions: "
            f"{', '.join(calibrated_precisions(device))})"
        )
    return math.exp(sum(math.log(r) for r in ratios) / len(ratios))


def calibrated_precisions(device: DeviceSpec) -> list[str]:
    """Precisions the device supports and has at least one calibration point for."""
    return sorted({p.precision for p in device.calibration if p.precision in device.peak})


def inference_cost(
    device: DeviceSpec, workload: WorkloadSpec, precision: str, catalog: Catalog
) -> InferenceCost:
    """Latency and energy of one batch-1 inference of ``workload`` on ``device``."""
    return batch_cost(device, workload.macs.value, precision, catalog, batch=1)


def batch_cost(device: DeviceSpec, macs: float, precision: str, catalog: Catalog, batch: int = 1,
               efficiency: float | None = None) -> InferenceCost:
    """Latency and energy of one call running ``batch`` inferences of ``macs`` each; the call
    overhead is paid once per call (the batch effect of this model)."""
    if not supported(device, precision):
        raise FleetsimError(
            f"{device.id} cannot run {precision} (allowed: {', '.join(sorted(device.peak))})"
        )
    eff = fitted_efficiency(device, precision, catalog) if efficiency is None else efficiency
    latency = _overhead_s(device) + batch * 2 * macs / (device.peak[precision].value * eff)
    return InferenceCost(latency_s=latency, energy_j=latency * device.active_power.value,
                         efficiency=eff)
