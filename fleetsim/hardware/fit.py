"""Fit a device's roofline parameters to its published calibration points.

Parameters (all in log space): the efficiency at the device's base precision, the efficiency
at every other precision, the depthwise-conv factor, the per-layer overhead, the
post-processing work per element and, used only by ``multi_context`` devices, the context
switch time and the layers and weight bytes one context holds. The fit
minimises squared log errors of the predicted time per inference over the calibration
points, plus weak priors that keep parameters the points cannot pin down at plausible
values (so a device with one point, or a left-out point at a precision of its own, still
gets a prediction). The priors are modelling choices, not hardware figures:

- efficiency: median 0.3 of peak, x/÷ e^1.5;
- another precision: the base efficiency x/÷ e^0.7;
- every efficiency is bounded to at most 1: no kernel runs above the peak it is counted
  against (a bound, not a prior: the fit stops at peak rather than trading an unphysical
  efficiency against the other parameters);
- depthwise conv: 0.3 of dense efficiency x/÷ e^1 (little weight reuse per MAC);
- layer overhead: 5 µs x/÷ e^2 (kernel launch / op dispatch);
- detection post-processing: 100 roofline ops per element read x/÷ e^2 (scalar, branchy
  decode / threshold / sort code runs far below the SIMD rate the efficiency describes);
- context switch: 1 ms x/÷ e^2 (reconfiguring the chip and moving the boundary activations);
- one context holds 150 layers x/÷ e^1 and 20 MB of weights x/÷ e^1 (the 20 MB is an
  unverified forum figure for the Hailo-8's on-chip memory, used only as a prior centre).

Throughput points are predicted at the batch they were measured at when the point gives
one (the Hailo model zoo's batch-1 FPS), else at ``THROUGHPUT_BATCH``, and from the call's
steady-state interval (:class:`~fleetsim.hardware.inference.InferenceCost`): in a streaming or
Offline run the host link, the device and the host work on different calls at once, so the
slowest stage, not their sum, sets the rate. Latency points add the stages in series.

Measurement scatter is taken as 25 % (log sigma 0.25) when weighing points against priors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from fleetsim.hardware.catalog import Catalog
from fleetsim.hardware.inference import (
    THROUGHPUT_BATCH,
    CallTerms,
    DeviceFit,
    InferenceCost,
    call_terms,
    context_s,
)
from fleetsim.hardware.specs import CalibrationPoint, DeviceSpec

MEASUREMENT_SIGMA = 0.25
PRIOR_EFFICIENCY = (math.log(0.3), 1.5)
PRIOR_PRECISION_OFFSET = (0.0, 0.7)
PRIOR_DEPTHWISE = (math.log(0.3), 1.0)
PRIOR_LAYER_OVERHEAD = (math.log(5e-6), 2.0)
PRIOR_POSTPROCESS = (math.log(100.0), 2.0)
PRIOR_CONTEXT_SWITCH = (math.log(1e-3), 2.0)
PRIOR_CONTEXT_LAYERS = (math.log(150.0), 1.0)
PRIOR_CONTEXT_BYTES = (math.log(20e6), 1.0)


@dataclass(frozen=True)
class PointTerms:
    """A calibration point's call terms and how to turn a call time into time per inference."""

    point: CalibrationPoint
    terms: CallTerms
    batch: int
    throughput: bool

    def seconds_per_inference(self, cost: InferenceCost) -> float:
        """Predicted time per inference: the call's latency, or its steady-state interval for a
        throughput point, over the batch."""
        return (cost.interval_s if self.throughput else cost.latency_s) / self.batch


def point_terms(device: DeviceSpec, point: CalibrationPoint, catalog: Catalog) -> PointTerms:
    """The fit-independent terms of predicting ``point``."""
    throughput = point.throughput is not None
    batch = point.batch or (THROUGHPUT_BATCH if throughput else 1)
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


TAIL = (("depthwise", PRIOR_DEPTHWISE), ("layer_overhead_s", PRIOR_LAYER_OVERHEAD),
        ("postprocess", PRIOR_POSTPROCESS), ("context_switch_s", PRIOR_CONTEXT_SWITCH),
        ("context_layers", PRIOR_CONTEXT_LAYERS), ("context_bytes", PRIOR_CONTEXT_BYTES))
"""The parameters after the efficiencies, in the order of the parameter vector, with their priors."""


def fit_points(device: DeviceSpec, points: list[PointTerms],
               measurement_sigma: float = MEASUREMENT_SIGMA) -> DeviceFit:
    """Parameters of ``device`` fitted on ``points`` (priors alone when there are none); a smaller
    ``measurement_sigma`` trusts the points more against the priors."""
    precisions = sorted(device.peak)
    base = _base_precision(device, points)
    others = [p for p in precisions if p != base]
    n = 1 + len(others)
    start = np.array([*[PRIOR_EFFICIENCY[0]] * n, *(prior[0] for _, prior in TAIL)])
    if not points:
        return _to_fit(start, base, others)
    problem = _Problem(points, others, measurement_sigma)
    upper = np.array([*[0.0] * n, *[np.inf] * len(TAIL)])  # every efficiency <= 1 (log <= 0)
    return _to_fit(least_squares(problem.residuals, start, bounds=(-np.inf, upper), method="trf").x,
                   base, others)


def _to_fit(theta: np.ndarray, base: str, others: list[str]) -> DeviceFit:
    efficiency = {base: math.exp(theta[0])}
    for i, p in enumerate(others):
        efficiency[p] = math.exp(theta[1 + i])
    tail = theta[1 + len(others):]
    named = {name: math.exp(v) for (name, _), v in zip(TAIL, tail, strict=True)}
    return DeviceFit(efficiency=efficiency, **named)


def _base_precision(device: DeviceSpec, points: list[PointTerms]) -> str:
    """The most-measured precision, preferring int8 on ties (and when there are no points)."""
    counts = {p: sum(t.point.precision == p for t in points) for p in device.peak}
    return max(sorted(device.peak), key=lambda p: (counts[p], p == "int8"))


class _Problem:
    """Residuals of every point and prior for a parameter vector, evaluated in one pass."""

    def __init__(self, points: list[PointTerms], others: list[str], measurement_sigma: float):
        self.others, self.sigma = others, measurement_sigma
        self.published = np.array([t.point.seconds_per_inference for t in points])
        self.device_fixed = np.array([t.terms.call_overhead_s + t.terms.spill_s for t in points])
        self.transfer = np.array([t.terms.transfer_s for t in points])
        self.fallback = np.array([t.terms.fallback_s for t in points])
        self.throughput = np.array([t.throughput for t in points], dtype=bool)
        self.call = np.array([t.terms.call_overhead_s for t in points])
        self.batch = np.array([t.batch for t in points], dtype=float)
        self.layers = np.array([len(t.terms.compute_s) for t in points], dtype=float)
        self.owner = np.concatenate([np.full(len(t.terms.compute_s), i, dtype=int)
                                     for i, t in enumerate(points)])
        self.compute = np.concatenate([t.terms.compute_s for t in points])
        self.memory = np.concatenate([t.terms.memory_s for t in points])
        self.depthwise = np.concatenate([t.terms.depthwise for t in points])
        self.post = np.concatenate([t.terms.postprocess_mask for t in points])
        self.host_post = np.array([t.terms.host_postprocess_s for t in points])
        self.multi = np.array([t.terms.context_reload_s is not None for t in points])
        self.reload = np.array([t.terms.context_reload_s or 0.0 for t in points])
        self.weight_bytes = np.array([t.terms.weight_bytes for t in points])
        index = {p: i + 1 for i, p in enumerate(others)}
        self.offset_index = np.array([index.get(t.terms.precision, 0) for t in points], dtype=int)

    def predicted(self, theta: np.ndarray) -> np.ndarray:
        """Time per inference of every point."""
        n = 1 + len(self.others)
        log_dw, log_layer, log_post, log_switch, log_ctx_layers, log_ctx_bytes = theta[n:]
        log_eff = (theta[:n][self.offset_index][self.owner] + np.where(self.depthwise, log_dw, 0)
                   - np.where(self.post, log_post, 0))
        layer_s = np.maximum(self.compute / np.exp(log_eff), self.memory)
        device = (self.device_fixed + np.bincount(self.owner, layer_s, minlength=len(self.published))
                  + self.layers * math.exp(log_layer))
        if self.multi.any():
            switching = context_s(self.layers, self.weight_bytes, self.reload, math.exp(log_switch),
                                  math.exp(log_ctx_layers), math.exp(log_ctx_bytes))
            device = device + np.where(self.multi, switching, 0.0)
        host = self.fallback + self.host_post * math.exp(log_post)
        interval = np.maximum(np.maximum(device - self.call, self.transfer), host)
        return np.where(self.throughput, interval, device + self.transfer + host) / self.batch

    def residuals(self, theta: np.ndarray) -> np.ndarray:
        n = 1 + len(self.others)
        errors = np.log(self.predicted(theta) / self.published) / self.sigma
        priors = [(theta[0] - PRIOR_EFFICIENCY[0]) / PRIOR_EFFICIENCY[1],
                  *((theta[1:n] - theta[0] - PRIOR_PRECISION_OFFSET[0]) / PRIOR_PRECISION_OFFSET[1]),
                  *((theta[n + i] - prior[0]) / prior[1] for i, (_, prior) in enumerate(TAIL))]
        return np.concatenate([errors, priors])
