"""How well the hardware models predict published measurements.

Every calibration point is predicted twice: with the parameters fitted on all of the
device's points (in-sample) and with them fitted on the other points only (leave-one-out,
the honest figure). Validation points are never fitted on and use the full fit.
Errors compare time per inference (latency / batch, or 1 / throughput). A point marked
``excluded:`` (calibration or validation) is predicted with the full fit and reported with its
reason under kind 'excluded', outside every score; each device's ``calibration_note`` says
where and why the model still misses.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass

from fleetsim.errors import FleetsimError
from fleetsim.hardware.catalog import Catalog
from fleetsim.hardware.fit import calibration_terms, class_prior, device_fit, fit_points, point_terms
from fleetsim.hardware.roofline import evaluate
from fleetsim.hardware.specs import DeviceSpec


@dataclass(frozen=True)
class PointCheck:
    """One published measurement against the model's predictions (ms per inference)."""

    device: str
    workload: str
    precision: str
    kind: str  # 'calibration', 'validation' or 'excluded'
    scope: str  # 'model' or 'pipeline'
    metric: str  # 'latency' or 'throughput'
    per_layer: bool  # False when the workload is costed from published totals only
    published_ms: float
    predicted_ms: float
    loo_predicted_ms: float | None
    excluded: str | None = None  # why the point is outside the fit and the scores

    @property
    def error(self) -> float:
        return self.predicted_ms / self.published_ms - 1

    @property
    def loo_error(self) -> float | None:
        return None if self.loo_predicted_ms is None else self.loo_predicted_ms / self.published_ms - 1


def check_device(device: DeviceSpec, catalog: Catalog) -> list[PointCheck]:
    """Every calibration and validation point of ``device``, predicted."""
    full = device_fit(device, catalog)
    calibration = calibration_terms(device, catalog)
    checks = []
    for i, terms in enumerate(calibration):
        loo_fit = fit_points(device, calibration[:i] + calibration[i + 1:],
                             class_efficiency=class_prior(device, catalog))
        checks.append(_check(device, terms, "calibration", catalog, full, loo_fit))
    for point in device.validation:
        kind = "validation" if point.excluded is None else "excluded"
        checks.append(_check(device, point_terms(device, point, catalog), kind, catalog, full, None))
    for point in device.calibration:
        if point.excluded is not None:
            terms = point_terms(device, point, catalog)
            checks.append(_check(device, terms, "excluded", catalog, full, None))
    return checks


def _check(device, terms, kind: str, catalog: Catalog, fit, loo_fit) -> PointCheck:
    def per_inference_ms(chosen) -> float:
        return terms.seconds_per_inference(evaluate(device, terms.terms, chosen), chosen) * 1e3

    point = terms.point
    return PointCheck(device.id, point.workload, point.precision, kind, point.scope,
                      "throughput" if point.throughput is not None else "latency",
                      catalog.profile(point.workload).per_layer, point.seconds_per_inference * 1e3,
                      per_inference_ms(fit), None if loo_fit is None else per_inference_ms(loo_fit),
                      point.excluded)


def validate_catalog(catalog: Catalog) -> dict:
    """Per-point checks, per-device summaries (with fitted parameters) and overall scores."""
    points, devices = [], {}
    for device_id in catalog.device_ids():
        device = catalog.devices[device_id]
        if not (device.calibration or device.validation):
            continue
        try:
            checks = check_device(device, catalog)
        except FleetsimError as err:
            devices[device_id] = {"problem": str(err), "note": device.calibration_note}
            continue
        points += checks
        fit = device_fit(device, catalog)
        devices[device_id] = {**_summary(checks), "note": device.calibration_note, "fit": asdict(fit)}
    return {
        "points": [{**asdict(c), "error": c.error, "loo_error": c.loo_error} for c in points],
        "devices": devices,
        "overall": _summary(points),
    }


def _summary(checks: list[PointCheck]) -> dict:
    loo = [c for c in checks if c.loo_error is not None]
    validation = [c for c in checks if c.kind == "validation"]
    model_scope = [c for c in validation if c.scope == "model"]
    return {"calibration_points": sum(c.kind == "calibration" for c in checks),
            "loo_points": len(loo),
            "loo_median_abs_error": _median([abs(c.loo_error) for c in loo]),
            "loo_worst_ratio": _worst(loo, loo=True),
            "validation_points": len(validation),
            "validation_median_abs_error": _median([abs(c.error) for c in validation]),
            "validation_worst_ratio": _worst(validation, loo=False),
            # pipeline timings add the frame's host legs to the network, so they are reported apart too
            "validation_model_scope_points": len(model_scope),
            "validation_model_scope_median_abs_error": _median([abs(c.error) for c in model_scope]),
            "validation_model_scope_worst_ratio": _worst(model_scope, loo=False),
            "excluded_points": sum(c.kind == "excluded" for c in checks)}


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _worst(checks: list[PointCheck], loo: bool) -> float | None:
    """Largest factor between prediction and publication (>= 1), over ``checks``."""
    ratios = [(c.loo_predicted_ms if loo else c.predicted_ms) / c.published_ms for c in checks]
    return max((max(r, 1 / r) for r in ratios), default=None)
