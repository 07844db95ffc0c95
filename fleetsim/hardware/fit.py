"""Fit a device's roofline parameters to its published calibration points.

Parameters (all in log space): the efficiency at the device's base precision, an offset
for every other precision, the depthwise-conv factor and the per-layer overhead. The fit
minimises squared log errors of the predicted time per inference over the calibration
points, plus weak priors that keep parameters the points cannot pin down at plausible
values (so a device with one point, or a left-out point at a precision of its own, still
gets a prediction). The priors are modelling choices, not hardware figures:

- efficiency: median 0.3 of peak, x/÷ e^1.5;
- another precision: the base efficiency x/÷ e^0.7;
- depthwise conv: 0.3 of dense efficiency x/÷ e^1 (little weight reuse per MAC);
- layer overhead: 5 µs x/÷ e^2 (kernel launch / op dispatch).

Measurement scatter is taken as 25 % (log sigma 0.25) when weighing points against priors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from fleetsim.hardware.catalog import Catalog
from fleetsim.hardware.inference import THROUGHPUT_BATCH, CallTerms, DeviceFit, call_terms
from fleetsim.hardware.specs import CalibrationPoint, DeviceSpec

MEASUREMENT_SIGMA = 0.25
PRIOR_EFFICIENCY = (math.log(0.3), 1.5)
PRIOR_PRECISION_OFFSET = (0.0, 0.7)
PRIOR_DEPTHWISE = (math.log(0.3), 1.0)
PRIOR_LAYER_OVERHEAD = (math.log(5e-6), 2.0)


@dataclass(frozen=True)
class PointTerms:
    """A calibration point's call terms and how to turn a call time into time per inference."""

    point: CalibrationPoint
    terms: CallTerms
    batch: int
    throughput: bool

    def seconds_per_inference(self, call_s: float) -> float:
        time = call_s - self.terms.call_overhead_s if self.throughput else call_s
        return time / self.batch


def point_terms(device: DeviceSpec, point: CalibrationPoint, catalog: Catalog) -> PointTerms:
    """The fit-independent terms of predicting ``point``."""
    throughput = point.throughput is not None
    batch = THROUGHPUT_BATCH if throughput else point.batch
    terms = call_terms(device, catalog.profile(point.workload), point.precision, catalog, batch, point.host)
    return PointTerms(point, terms, batch, throughput)


def calibration_terms(device: DeviceSpec, catalog: Catalog) -> list[PointTerms]:
    """Terms of every calibration point of ``device`` (computed once per catalog)."""
    key = ("calibration terms", device.id)
    if key not in catalog.memo:
        catalog.memo[key] = [point_terms(device, p, catalog) for p in device.calibration]
    return catalog.memo[key]


def device_fit(device: DeviceSpec, catalog: Catalog) -> DeviceFit:
    """The device's parameters fitted on all its calibration points (computed once per catalog)."""
    key = ("fit", device.id)
    if key not in catalog.memo:
        catalog.memo[key] = fit_points(device, calibration_terms(device, catalog))
    return catalog.memo[key]


def fit_points(device: DeviceSpec, points: list[PointTerms],
               measurement_sigma: float = MEASUREMENT_SIGMA) -> DeviceFit:
    """Parameters of ``device`` fitted on ``points`` (priors alone when there are none); a smaller
    ``measurement_sigma`` trusts the points more against the priors."""
    precisions = sorted(device.peak)
    base = _base_precision(device, points)
    others = [p for p in precisions if p != base]
    start = np.array([PRIOR_EFFICIENCY[0], *[0.0] * len(others), PRIOR_DEPTHWISE[0], PRIOR_LAYER_OVERHEAD[0]])
    if not points:
        return _to_fit(start, base, others)
    problem = _Problem(points, others, measurement_sigma)
    return _to_fit(least_squares(problem.residuals, start, method="trf").x, base, others)


def _to_fit(theta: np.ndarray, base: str, others: list[str]) -> DeviceFit:
    efficiency = {base: math.exp(theta[0])}
    for i, p in enumerate(others):
        efficiency[p] = math.exp(theta[0] + theta[1 + i])
    return DeviceFit(efficiency=efficiency, depthwise=math.exp(theta[-2]),
                     layer_overhead_s=math.exp(theta[-1]))


def _base_precision(device: DeviceSpec, points: list[PointTerms]) -> str:
    """The most-measured precision, preferring int8 on ties (and when there are no points)."""
    counts = {p: sum(t.point.precision == p for t in points) for p in device.peak}
    return max(sorted(device.peak), key=lambda p: (counts[p], p == "int8"))


class _Problem:
    """Residuals of every point and prior for a parameter vector, evaluated in one pass."""

    def __init__(self, points: list[PointTerms], others: list[str], measurement_sigma: float):
        self.others, self.sigma = others, measurement_sigma
        self.published = np.array([t.point.seconds_per_inference for t in points])
        self.fixed = np.array([t.terms.fixed_s for t in points])
        self.call = np.array([t.terms.call_overhead_s if t.throughput else 0.0 for t in points])
        self.batch = np.array([t.batch for t in points], dtype=float)
        self.layers = np.array([len(t.terms.compute_s) for t in points], dtype=float)
        self.owner = np.concatenate([np.full(len(t.terms.compute_s), i, dtype=int)
                                     for i, t in enumerate(points)])
        self.compute = np.concatenate([t.terms.compute_s for t in points])
        self.memory = np.concatenate([t.terms.memory_s for t in points])
        self.depthwise = np.concatenate([t.terms.depthwise for t in points])
        index = {p: i + 1 for i, p in enumerate(others)}
        self.offset_index = np.array([index.get(t.terms.precision, 0) for t in points], dtype=int)

    def predicted(self, theta: np.ndarray) -> np.ndarray:
        """Time per inference of every point."""
        offsets = np.concatenate([[0.0], theta[1:1 + len(self.others)]])
        log_eff = theta[0] + offsets[self.offset_index][self.owner] + np.where(self.depthwise, theta[-2], 0)
        layer_s = np.maximum(self.compute / np.exp(log_eff), self.memory)
        call = (self.fixed + np.bincount(self.owner, layer_s, minlength=len(self.fixed))
                + self.layers * math.exp(theta[-1]))
        return (call - self.call) / self.batch

    def residuals(self, theta: np.ndarray) -> np.ndarray:
        errors = np.log(self.predicted(theta) / self.published) / self.sigma
        priors = [(theta[0] - PRIOR_EFFICIENCY[0]) / PRIOR_EFFICIENCY[1],
                  *((theta[1:1 + len(self.others)] - PRIOR_PRECISION_OFFSET[0]) / PRIOR_PRECISION_OFFSET[1]),
                  (theta[-2] - PRIOR_DEPTHWISE[0]) / PRIOR_DEPTHWISE[1],
                  (theta[-1] - PRIOR_LAYER_OVERHEAD[0]) / PRIOR_LAYER_OVERHEAD[1]]
        return np.concatenate([errors, priors])
