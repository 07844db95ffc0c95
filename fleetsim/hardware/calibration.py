"""How well the hardware models predict published measurements.

Every calibration point is predicted twice: with the efficiency fitted on all of the
device's points (in-sample) and with it fitted on the others only (leave-one-out, the
honest figure; missing when the point is the only one at its precision). Validation
points are never fitted on and are predicted with the full fit.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass

from fleetsim.errors import FleetsimError
from fleetsim.hardware.catalog import Catalog
from fleetsim.hardware.inference import batch_cost, calibrated_precisions, fitted_efficiency
from fleetsim.hardware.specs import CalibrationPoint, DeviceSpec


@dataclass(frozen=True)
class PointCheck:
    """One published latency against the model's predictions."""

    device: str
    workload: str
    precision: str
    kind: str  # 'calibration' or 'validation'
    published_ms: float
    predicted_ms: float
    loo_predicted_ms: float | None

    @property
    def error(self) -> float:
        return self.predicted_ms / self.published_ms - 1

    @property
    def loo_error(self) -> float | None:
        return None if self.loo_predicted_ms is None else self.loo_predicted_ms / self.published_ms - 1


def check_device(device: DeviceSpec, catalog: Catalog) -> list[PointCheck]:
    """Every calibration and validation point of ``device``, predicted."""
    checks = []
    usable = set(calibrated_precisions(device))
    for i, point in enumerate(device.calibration):
        others = [p for j, p in enumerate(device.calibration) if j != i and p.precision == point.precision]
        loo = None
        if others:
            efficiency = fitted_efficiency(device, point.precision, catalog, others)
            loo = _predict_ms(device, point, catalog, efficiency)
        checks.append(_check(device, point, "calibration", catalog, loo))
    for point in device.validation:
        if point.precision in usable:
            checks.append(_check(device, point, "validation", catalog, None))
    return checks


def _check(device, point: CalibrationPoint, kind: str, catalog: Catalog, loo: float | None) -> PointCheck:
    predicted = _predict_ms(device, point, catalog, fitted_efficiency(device, point.precision, catalog))
    return PointCheck(device.id, point.workload, point.precision, kind, point.latency * 1e3, predicted, loo)


def _predict_ms(device, point: CalibrationPoint, catalog: Catalog, efficiency: float) -> float:
    macs = catalog.workload(point.workload).macs.value
    return batch_cost(device, macs, point.precision, catalog, efficiency=efficiency).latency_s * 1e3


def validate_catalog(catalog: Catalog) -> dict:
    """Per-point checks and per-device summaries for every device with calibration points."""
    points, devices = [], {}
    for device_id in catalog.device_ids():
        device = catalog.devices[device_id]
        if not device.calibration:
            continue
        try:
            checks = check_device(device, catalog)
        except FleetsimError as err:
            devices[device_id] = {"problem": str(err)}
            continue
        points += checks
        devices[device_id] = _summary(checks)
    loo = [abs(c.loo_error) for c in points if c.loo_error is not None]
    return {
        "points": [{**asdict(c), "error": c.error, "loo_error": c.loo_error} for c in points],
        "devices": devices,
        "overall": {"loo_points": len(loo), "loo_median_abs_error": _median(loo),
                    "loo_worst_ratio": _worst([c for c in points if c.loo_error is not None], loo=True),
                    "validation_median_abs_error": _median(
                        [abs(c.error) for c in points if c.kind == "validation"])},
    }


def _summary(checks: list[PointCheck]) -> dict:
    loo = [c for c in checks if c.loo_error is not None]
    validation = [c for c in checks if c.kind == "validation"]
    return {"calibration_points": sum(c.kind == "calibration" for c in checks),
            "loo_points": len(loo),
            "loo_median_abs_error": _median([abs(c.loo_error) for c in loo]),
            "loo_worst_ratio": _worst(loo, loo=True),
            "validation_points": len(validation),
            "validation_median_abs_error": _median([abs(c.error) for c in validation])}


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _worst(checks: list[PointCheck], loo: bool) -> float | None:
    """Largest factor between prediction and publication (>= 1), over ``checks``."""
    ratios = [(c.loo_predicted_ms if loo else c.predicted_ms) / c.published_ms for c in checks]
    return max((max(r, 1 / r) for r in ratios), default=None)
