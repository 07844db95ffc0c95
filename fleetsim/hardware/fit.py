"""Fit a device's roofline parameters to its published calibration points.

Parameters (all in log space): the efficiency at the device's base precision, the efficiency
at every other precision, the depthwise-conv factor, the per-layer overhead (and the share of
it a layer without MACs pays), the post-processing work per element, the pre-processing work
per input element of pipeline points (and a numpy script's cost per input element) and, used
only by ``multi_context`` devices, the context switch time and the layers and weight bytes one
context holds. The fit minimises squared log errors of the predicted time per inference over the
calibration points, plus weak priors that keep parameters the points cannot pin down at plausible
values (so a device with one point, or a left-out point at a precision of its own, still
gets a prediction). The priors are modelling choices, not hardware figures:

- efficiency at the base precision: 0.3 of peak x/÷ e^1.5; at a precision the device has no
  (fitted) point at, centred instead on the median of what the other devices of the same
  accelerator class (edge or cloud alike) achieve there, each fitted on its own points with
  the generic priors (:func:`class_prior`; the device's own points never enter it). A device
  with one point, left out, is then predicted from its siblings rather than from a number
  nobody measured, while a device with points keeps its own level (the Coral desktop's 2019
  x86 TFLite reached 0.2 % of its peak, the Pi 5's NCNN 60 %: the class is no guide there);
- another precision: the efficiency the class achieves there (as above, where no point of
  the device is at it and a sibling's is), and the base efficiency times (its peak / the
  base peak)^-(1 - g), x/÷ e^0.7, where g is the share (in log) of a precision's peak
  advantage that runtimes realise (``PRECISION_GAIN_REALISED``, a modelling choice per
  accelerator class). CPUs: g = 0.5. The int8 peaks of the Cortex-A files count 16 int8
  lanes per 128-bit multiply-accumulate, but ARMv8.0 has no dot product and int8 kernels use
  widening multiply-accumulates (8 MACs per instruction, rpi4_cpu peak note), so at most
  half the nominal 4x over fp32 is there to take; the Pi 5 calibration points (TFLite int8
  vs NCNN/OpenVINO fp32) realise about none of its 4x SDOT advantage. Other classes: g = 1
  (the same fraction of either peak, the old default): on the Orin GPUs, fitted on their
  TensorRT points against GPU-only peaks, int8 realises 1.4-1.9x of its 2x over fp16, and
  fp32 (against the TF32 peak) 0.43-0.49x for 0.5x. A GPU's fp32 counts against its TF32
  peak (the rate its convolutions run at);
- every efficiency is bounded to at most 1: no kernel runs above the peak it is counted
  against (a bound, not a prior: the fit stops at peak rather than trading an unphysical
  efficiency against the other parameters);
- depthwise conv: 0.3 of dense efficiency x/÷ e^1 (little weight reuse per MAC); 1 x/÷ e^1 on a
  device whose depthwise layers count against a ``depthwise_peak`` of their own (an FPGA DPU's
  narrower depthwise engine already says why they run slower);
- layer overhead: 5 µs x/÷ e^2 (kernel launch / op dispatch); a layer without MACs (pooling,
  resize, element-wise, reshape, concat) 1 x/÷ e^1.5 times that (``light_overhead``: weak, so
  the points decide; on the measured CPU's per-node times cheap fp32 ops cost far less than a
  conv's overhead, but the model-level fits settle at 0.8-2.2x, see docs/howto-measure.md);
- detection post-processing: 100 roofline ops per element read x/÷ e^2 (scalar, branchy
  decode / threshold / sort code runs far below the SIMD rate the efficiency describes);
- context switch: 1 ms x/÷ e^2 (reconfiguring the chip and moving the boundary activations);
- one context holds 150 layers x/÷ e^1 and 20 MB of weights x/÷ e^1 (the 20 MB is an
  unverified forum figure for the Hailo-8's on-chip memory, used only as a prior centre);
- on a host of a point's own (its ``host``, other than the device's ``host_cpu``): transfers
  and streamed weights ``host_factor`` 1 x/÷ e^1 times as long, and ``host_call_s`` 1 ms x/÷ e^1
  more per call (edge_hardware.md caveat 1: Python adds 0-2 ms per call over C++ on Coral).
  Pinned only by such points: the seven Raspberry Pi 4 points of the Coral USB stick (Python
  timings), all slower than the model's desktop-host (C++) prediction; the Pi 4's USB 3 sits
  behind one PCIe 2.0 lane (VL805) and its driver runs on a 1.5-1.8 GHz Cortex-A72.

A ``scope: pipeline`` point (an end-to-end timing) adds the frame's host legs: pre-processing
(``preprocess`` ops per element of the network input, at the fitted rate of what runs it: the
point's ``host``, the device's ``host_cpu``, or the device itself; prior 10 x/÷ e^2,
``PRIOR_PREPROCESS``; :func:`preprocess_s` prices it, here and in
:func:`~fleetsim.hardware.inference.frame_legs`) and the
hand-off of the detections, in series for a latency and on the host's stage for a throughput;
its post-processing is the host's nms layer as in every point. A pipeline point with ``harness:
numpy`` (a Python script that letterboxes, decodes and suppresses in numpy on the host CPU) pays
instead a fitted ``numpy_harness_s`` per element of the network input (prior ``PRIOR_NUMPY_HARNESS``,
measured on this project's development core); a device without such points keeps it at its prior,
outside the optimisation. A ``sequential`` throughput (a loop that waits for each frame) is
predicted as a latency.

Throughput points are predicted at the batch they were measured at when the point gives
one (the Hailo model zoo's batch-1 FPS), else at ``THROUGHPUT_BATCH``, and from the call's
steady-state interval (:class:`~fleetsim.hardware.roofline.InferenceCost`): in a streaming or
Offline run the host link, the device and the host work on different calls at once, so the
slowest stage, not their sum, sets the rate. Latency points add the stages in series. A
throughput point on a Jetson with ``dla_peak`` (MLPerf Offline) counts its int8 conv/matmul
layers against the GPU and DLA peaks together; latency points run on the GPU alone.

Measurement scatter is taken as 25 % (log sigma 0.25) when weighing points against priors.

A calibration point with ``excluded:`` (a harness the model does not describe, with the
evidence) is not fitted on; ``fleetsim hardware validate`` reports it apart, with its reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from fleetsim.errors import FleetsimError
from fleetsim.hardware.catalog import Catalog
from fleetsim.hardware.power_modes import at_power_mode
from fleetsim.hardware.roofline import (
    CallTerms,
    DeviceFit,
    InferenceCost,
    call_terms,
    context_s,
    fallback_host,
)
from fleetsim.hardware.specs import CalibrationPoint, DeviceSpec
from fleetsim.hardware.workload import Workload, without_postprocess

MEASUREMENT_SIGMA = 0.25
PRIOR_EFFICIENCY = (math.log(0.3), 1.5)
PRIOR_PRECISION_OFFSET = (0.0, 0.7)
PRECISION_GAIN_REALISED = {"cpu": 0.5}
INT8_GAIN_REALISED = {"arm_dot_product": 0.75, "x86_vnni": 0.75, "arm_widening": 0.35, "x86_widening": 0.35}
"""Share (in log) of the int8 peak's advantage over fp32 that a CPU's runtimes realise, by how its
int8 kernels multiply (``DeviceSpec.int8_isa``); see the module docstring."""
"""Share (in log) of a precision's peak advantage that runtimes realise, per accelerator class
(0: none, the same ops/s at either precision; 1, the default: all of it, the same fraction of
each peak); see the module docstring."""
PRIOR_DEPTHWISE = (math.log(0.3), 1.0)
PRIOR_LAYER_OVERHEAD = (math.log(5e-6), 2.0)
PRIOR_LIGHT_OVERHEAD = (0.0, 1.5)
PRIOR_POSTPROCESS = (math.log(100.0), 2.0)
PRIOR_CONTEXT_SWITCH = (math.log(1e-3), 2.0)
PRIOR_CONTEXT_LAYERS = (math.log(150.0), 1.0)
PRIOR_CONTEXT_BYTES = (math.log(20e6), 1.0)
CONTEXT_BOUND_SIGMA = 0.02
"""Log tolerance of the bound a published context count puts on the capacity (nearly hard)."""
PRIOR_HOST_FACTOR = (0.0, 1.0)
PRIOR_HOST_CALL = (math.log(1e-3), 1.0)
PRIOR_NUMPY_HARNESS = (math.log(6.2e-9), 1.5)
"""Seconds per element of the network input that a numpy script's pre- and post-processing of one frame
costs (``harness: numpy`` points): 6.2 ns, measured on this project's development core (AMD EPYC Zen 4,
one thread: 5.1 ms pre-processing and 2.5 ms decode and NMS for a 640 x 640 YOLOX-style input,
``python -m fleetsim.tools.harness``), x/÷ e^1.5 for a host other than that core (an embedded Arm core
at 1.5 GHz runs the same script several times slower)."""
PRIOR_PREPROCESS = (math.log(10.0), 2.0)
"""Host operations per element of the network input that pre-processing writes: a bilinear resize
reads 4 source pixels per output pixel and channel (4 multiplies + 4 adds, OpenCV ``INTER_LINEAR``),
normalising is a subtract and a scale (2), layout and type conversion move it once more; x/÷ e^2,
as an interpreted (Python) harness runs far below that rate."""
THROUGHPUT_BATCH = 32
"""Batch at which a steady-state throughput is predicted (call overhead amortised away)."""


@dataclass(frozen=True)
class PointTerms:
    """A calibration point's call terms and how to turn a call time into time per inference."""

    point: CalibrationPoint
    terms: CallTerms
    batch: int
    throughput: bool  # a steady-state rate of overlapping calls (not a sequential loop's)
    preprocess_s: float = 0.0  # a pipeline point's host pre-processing per call, at 1 op per input element
    preprocess_floor_s: float = 0.0  # the same pre-processing's memory time, a floor under it
    handoff_s: float = 0.0  # a pipeline point's hand-off of the detections, per call
    preprocess_precision: str | None = None  # where the device pre-processes itself: the precision
    # whose fitted efficiency slows ``preprocess_s`` (stated at its peak)
    harness_elements: float = 0.0  # a numpy-harness point's network-input elements per call

    def host_pipeline_s(self, fit: DeviceFit) -> float:
        """A pipeline point's pre-processing (``fit.preprocess`` ops per input element, or a numpy
        script's ``fit.numpy_harness_s`` per input element) and hand-off."""
        if self.harness_elements:
            return fit.numpy_harness_s * self.harness_elements + self.handoff_s
        if not self.preprocess_s:
            return self.handoff_s
        return (preprocess_s(fit, self.preprocess_s, self.preprocess_floor_s, self.preprocess_precision)
                + self.handoff_s)

    def seconds_per_inference(self, cost: InferenceCost, fit: DeviceFit) -> float:
        """Predicted time per inference under ``fit``: the call's latency, or its steady-state
        interval for a throughput point, over the batch. A pipeline point adds the host's
        pre-processing and hand-off in series (latency), or to the host's stage of the pipeline
        (throughput)."""
        host = self.host_pipeline_s(fit)
        if self.throughput:
            return max(cost.interval_s, cost.fallback_s + host) / self.batch
        return (cost.latency_s + host) / self.batch


def point_terms(device: DeviceSpec, point: CalibrationPoint, catalog: Catalog) -> PointTerms:
    """The fit-independent terms of predicting ``point``."""
    overlapping = point.throughput is not None and not point.sequential
    batch = point.batch or (THROUGHPUT_BATCH if overlapping else 1)
    workload = catalog.profile(point.workload)
    if point.raw_outputs:
        workload = without_postprocess(workload)
    device = at_power_mode(device, point.power_mode)
    if point.host_link is not None:
        device = device.model_copy(update={"host_link": point.host_link})
    terms = call_terms(device, workload, point.precision, catalog, batch, point.host, with_dla=overlapping,
                       host_fit=host_fit(device, workload, catalog, point.host))
    pre, floor, handoff, own, harness = 0.0, 0.0, 0.0, None, 0.0
    if point.scope == "pipeline":
        from fleetsim.hardware.inference import HANDOFF_S  # inference builds on this module
        handoff = HANDOFF_S * batch
        if point.harness == "numpy":
            harness = workload.input_elements * batch
        else:
            pre, floor, own = preprocess_terms(device, workload, point.precision, catalog, host=point.host)
            pre, floor = pre * batch, floor * batch
    return PointTerms(point, terms.with_library_speedup(library_speedup(device, point)), batch, overlapping,
                      pre, floor, handoff, own, harness)


def preprocess_runner(device: DeviceSpec, catalog: Catalog, host: str | None = None) -> DeviceSpec:
    """The processor that resizes and normalises a frame for ``device``: ``host``, else the device's
    ``host_cpu``, else the device itself."""
    runner_id = host or device.host_cpu
    return catalog.device(runner_id) if runner_id else device


def preprocess_terms(device: DeviceSpec, workload: Workload, precision: str, catalog: Catalog,
                     camera_pixels: int | None = None, host: str | None = None
                     ) -> tuple[float, float, str | None]:
    """Pre-processing of one frame for ``device`` (:func:`preprocess_runner`): seconds at one op per
    element of the network input, the memory time of reading the source frame and writing the
    input (a floor), and, where the device runs it itself, the precision whose fitted efficiency
    the first is still to be divided by (it is at the device's peak: its fit may be the one being
    made); a host's fitted efficiency is already in it."""
    runner = preprocess_runner(device, catalog, host)
    precision = "fp32" if "fp32" in runner.peak else precision
    rate = runner.peak[precision].value
    own = precision if runner is device else None
    if own is None:
        rate *= device_fit(runner, catalog).efficiency[precision]
    unit = workload.input_elements / rate
    if runner.memory_bandwidth is None:
        return unit, 0.0, own
    source = 3 * (camera_pixels or workload.spec.input_size ** 2)
    return unit, (source + 4 * workload.input_elements) / runner.memory_bandwidth.value, own


def preprocess_s(fit: DeviceFit, unit_s: float, floor_s: float, own: str | None) -> float:
    """Pre-processing time under ``fit`` from :func:`preprocess_terms`' parts: ``fit.preprocess`` ops
    per input element at ``unit_s`` each (slowed by the fitted efficiency at ``own`` where the device
    pre-processes itself), never under the memory floor ``floor_s``."""
    return max(fit.preprocess * unit_s / (fit.efficiency[own] if own else 1.0), floor_s)


def library_speedup(device: DeviceSpec, point: CalibrationPoint) -> float:
    """How much faster the point's kernel library runs MAC layers than the device's own (1 without one)."""
    if point.kernel_library is None:
        return 1.0
    for entry in device.library_speedups:
        if entry.library == point.kernel_library and entry.precision == point.precision:
            return entry.speedup.value
    raise FleetsimError(f"{device.id}: a {point.precision} point names kernel_library "
                        f"'{point.kernel_library}' "
                        "but library_speedups has no entry for it (allowed: "
                        f"{', '.join(sorted({e.library for e in device.library_speedups})) or 'none'})")


def calibration_terms(device: DeviceSpec, catalog: Catalog) -> list[PointTerms]:
    """Terms of every calibration point of ``device`` that is fitted on, i.e. not ``excluded``
    (computed once per catalog)."""
    key = ("calibration terms", device.id)
    if key not in catalog.memo:
        device = catalog.devices.get(device.id, device)  # as stated, not at another power mode
        catalog.memo[key] = [point_terms(device, p, catalog) for p in device.calibration
                             if p.excluded is None]
    return catalog.memo[key]


def device_fit(device: DeviceSpec, catalog: Catalog) -> DeviceFit:
    """The device's parameters fitted on all its calibration points (computed once per catalog)."""
    key = ("fit", device.id)
    if key not in catalog.memo:
        device = catalog.devices.get(device.id, device)  # as stated, not at another power mode
        catalog.memo[key] = fit_points(device, calibration_terms(device, catalog),
                                       class_efficiency=class_prior(device, catalog))
    return catalog.memo[key]


def host_fit(device: DeviceSpec, workload: Workload, catalog: Catalog,
             host: str | None = None) -> DeviceFit | None:
    """The fit of the host CPU that runs the layers of ``workload`` that ``device`` cannot
    (:func:`~fleetsim.hardware.roofline.fallback_host`), or None when the device runs them all."""
    runner = fallback_host(device, workload, catalog, host)
    return None if runner is None else device_fit(runner, catalog)


def class_prior(device: DeviceSpec, catalog: Catalog) -> dict[str, float]:
    """Log efficiency, per precision, that the other devices of ``device``'s accelerator class
    achieve (the median over those with calibration points at that precision, each fitted on its
    own points with the generic priors). Never uses ``device``'s own points, so a left-out point
    is not seen through its siblings."""
    key = ("class prior", device.id)
    if key not in catalog.memo:
        achieved: dict[str, list[float]] = {}
        for other_id in catalog.device_ids():
            other = catalog.devices[other_id]
            if other_id == device.id or other.accelerator_class != device.accelerator_class:
                continue
            same_isa = (device.int8_isa is None or other.int8_isa is None
                        or other.int8_isa.value == device.int8_isa.value)
            points = calibration_terms(other, catalog)
            if not points:
                continue
            generic = catalog.memo.get(("generic fit", other_id))
            if generic is None:
                generic = catalog.memo[("generic fit", other_id)] = fit_points(other, points)
            for precision in {t.point.precision for t in points} - ({"int8"} if not same_isa else set()):
                achieved.setdefault(precision, []).append(math.log(generic.efficiency[precision]))
        catalog.memo[key] = {p: float(np.median(v)) for p, v in achieved.items()}
    return catalog.memo[key]


TAIL = (("depthwise", PRIOR_DEPTHWISE), ("layer_overhead_s", PRIOR_LAYER_OVERHEAD),
        ("postprocess", PRIOR_POSTPROCESS), ("context_switch_s", PRIOR_CONTEXT_SWITCH),
        ("context_layers", PRIOR_CONTEXT_LAYERS), ("context_bytes", PRIOR_CONTEXT_BYTES),
        ("host_factor", PRIOR_HOST_FACTOR), ("host_call_s", PRIOR_HOST_CALL),
        ("light_overhead", PRIOR_LIGHT_OVERHEAD), ("preprocess", PRIOR_PREPROCESS),
        ("numpy_harness_s", PRIOR_NUMPY_HARNESS))
"""The parameters after the efficiencies, in the order of the parameter vector, with their priors."""


def fit_points(device: DeviceSpec, points: list[PointTerms],
               measurement_sigma: float = MEASUREMENT_SIGMA,
               class_efficiency: dict[str, float] | None = None) -> DeviceFit:
    """Parameters of ``device`` fitted on ``points`` (priors alone when there are none); a smaller
    ``measurement_sigma`` trusts the points more against the priors; ``class_efficiency`` (log
    efficiency per precision, :func:`class_prior`) centres the priors of the precisions that no
    point is at."""
    precisions = sorted(device.peak)
    base = _base_precision(device, points)
    others = [p for p in precisions if p != base]
    n = 1 + len(others)
    measured = {t.point.precision for t in points}
    siblings_at = {p: c for p, c in (class_efficiency or {}).items() if p not in measured}
    centre = siblings_at.get(base, PRIOR_EFFICIENCY[0])
    offsets = np.array([_precision_offset(device, p, base) for p in others])
    tail = [0.0 if name == "depthwise" and device.depthwise_peak is not None else prior[0]
            for name, prior in TAIL]
    start = np.array([centre, *np.minimum(centre + offsets, 0.0), *tail])
    theta = start
    if points:
        problem = _Problem(points, others, measurement_sigma, centre, offsets, np.array(tail))
        upper = np.array([*[0.0] * n, *[np.inf] * len(TAIL)])  # every efficiency <= 1 (log <= 0)
        free = problem.free(n)
        theta = _fill(start, free, least_squares(lambda x: problem.residuals(_fill(start, free, x), free),
                                                 start[free], bounds=(-np.inf, upper[free]), method="trf").x)
    for i, p in enumerate(others):
        if p not in measured and p in siblings_at:  # both priors, weighed; after the fit, so that
            # a sibling's level at a precision this device has no point at never moves the rest
            w_tied, w_class = PRIOR_PRECISION_OFFSET[1] ** -2, PRIOR_EFFICIENCY[1] ** -2
            theta[1 + i] = min(0.0, (w_tied * (theta[0] + offsets[i]) + w_class * siblings_at[p])
                               / (w_tied + w_class))
    return _to_fit(theta, base, others)


def _fill(start: np.ndarray, free: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``start`` with its ``free`` parameters set to ``x``."""
    theta = start.copy()
    theta[free] = x
    return theta


def _to_fit(theta: np.ndarray, base: str, others: list[str]) -> DeviceFit:
    efficiency = {base: math.exp(theta[0])}
    for i, p in enumerate(others):
        efficiency[p] = math.exp(theta[1 + i])
    tail = theta[1 + len(others):]
    named = {name: math.exp(v) for (name, _), v in zip(TAIL, tail, strict=True)}
    return DeviceFit(efficiency=efficiency, **named)


def _precision_offset(device: DeviceSpec, precision: str, base: str) -> float:
    """Prior centre of log(efficiency[precision] / efficiency[base]): -(1 - g) x log of the ratio
    of the peaks the two precisions' convolutions count against (g: ``PRECISION_GAIN_REALISED``)."""
    realised = PRECISION_GAIN_REALISED.get(device.accelerator_class, 1.0)
    if device.int8_isa is not None and "int8" in (precision, base):
        realised = INT8_GAIN_REALISED[device.int8_isa.value]
    return -(1.0 - realised) * math.log(_mac_peak(device, precision) / _mac_peak(device, base))


def _mac_peak(device: DeviceSpec, precision: str) -> float:
    if precision == "fp32" and device.tf32_peak is not None:
        return device.tf32_peak.value
    return device.peak[precision].value


def _base_precision(device: DeviceSpec, points: list[PointTerms]) -> str:
    """The most-measured precision, preferring int8 on ties (and when there are no points)."""
    counts = {p: sum(t.point.precision == p for t in points) for p in device.peak}
    return max(sorted(device.peak), key=lambda p: (counts[p], p == "int8"))


class _Problem:
    """Residuals of every point and prior for a parameter vector, evaluated in one pass."""

    def __init__(self, points: list[PointTerms], others: list[str], measurement_sigma: float,
                 centre: float = PRIOR_EFFICIENCY[0], offsets: np.ndarray | None = None,
                 tail: np.ndarray | None = None):
        self.others, self.sigma = others, measurement_sigma
        self.tail = np.array([prior[0] for _, prior in TAIL]) if tail is None else tail
        self.centre = centre
        self.offsets = np.zeros(len(others)) if offsets is None else offsets
        self.published = np.array([t.point.seconds_per_inference for t in points])
        self.foreign = np.array([t.terms.foreign_host for t in points], dtype=bool)
        self.spill = np.array([t.terms.spill_s for t in points])
        self.transfer = np.array([t.terms.transfer_s for t in points])
        self.fallback = np.array([t.terms.fallback_s for t in points])
        self.throughput = np.array([t.throughput for t in points], dtype=bool)
        self.call = np.array([t.terms.call_overhead_s for t in points])
        self.batch = np.array([t.batch for t in points], dtype=float)
        self.layers = np.array([len(t.terms.compute_s) for t in points], dtype=float)
        self.light = np.array([t.terms.light_mask.sum() for t in points], dtype=float)
        self.overhead_scale = np.array([t.terms.overhead_scale for t in points])
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
        self.pre = np.array([t.preprocess_s for t in points])
        self.pre_floor = np.array([t.preprocess_floor_s for t in points])
        self.handoff = np.array([t.handoff_s for t in points])
        self.harness = np.array([t.harness_elements for t in points])
        self.known = np.array([np.nan if t.terms.contexts is None else t.terms.contexts for t in points],
                              dtype=float)
        index = {p: i + 1 for i, p in enumerate(others)}
        self.pre_own = np.array([-1 if t.preprocess_precision is None  # -1: a host pre-processes
                                 else index.get(t.preprocess_precision, 0) for t in points], dtype=int)
        self.offset_index = np.array([index.get(t.terms.precision, 0) for t in points], dtype=int)

    def predicted(self, theta: np.ndarray) -> np.ndarray:
        """Time per inference of every point."""
        n = 1 + len(self.others)
        (log_dw, log_layer, log_post, log_switch, log_ctx_layers, log_ctx_bytes, log_host,
         log_host_call, log_light, log_pre, log_harness) = theta[n:]
        link = np.where(self.foreign, math.exp(log_host), 1.0)  # link-side time on another host
        call = self.call + np.where(self.foreign, math.exp(log_host_call), 0.0)
        log_eff = (theta[:n][self.offset_index][self.owner] + np.where(self.depthwise, log_dw, 0)
                   - np.where(self.post, log_post, 0))
        layer_s = np.maximum(self.compute / np.exp(log_eff), self.memory)
        device = (call + self.spill * link + np.bincount(self.owner, layer_s, minlength=len(self.published))
                  + (self.layers + self.light * math.expm1(log_light)) * math.exp(log_layer)
                  * self.overhead_scale)
        if self.multi.any():
            switching = context_s(self.layers, self.weight_bytes, self.reload, math.exp(log_switch),
                                  math.exp(log_ctx_layers), math.exp(log_ctx_bytes), self.known)
            device = device + np.where(self.multi, switching, 0.0)
        host = self.fallback + self.host_post * math.exp(log_post)
        pre = self.pre / np.where(self.pre_own >= 0, np.exp(theta[:n][np.maximum(self.pre_own, 0)]), 1.0)
        pipeline = np.where(self.pre > 0, np.maximum(pre * math.exp(log_pre), self.pre_floor), 0.0)
        pipeline = pipeline + self.handoff + self.harness * math.exp(log_harness)
        transfer = self.transfer * link
        interval = np.maximum(np.maximum(device - call, transfer), host + pipeline)
        return np.where(self.throughput, interval, device + transfer + host + pipeline) / self.batch

    def free(self, n: int) -> np.ndarray:
        """Which parameters the fit moves: all but the numpy harness's cost when no point is timed by
        such a script (nothing could inform it; it stays at its prior centre)."""
        free = np.ones(n + len(TAIL), dtype=bool)
        free[n + [name for name, _ in TAIL].index("numpy_harness_s")] = bool(self.harness.any())
        return free

    def residuals(self, theta: np.ndarray, free: np.ndarray | None = None) -> np.ndarray:
        """Point and prior residuals (priors of the ``free`` parameters only, when given)."""
        n = 1 + len(self.others)
        errors = np.log(self.predicted(theta) / self.published) / self.sigma
        priors = np.array([(theta[0] - self.centre) / PRIOR_EFFICIENCY[1],
                           *((theta[1:n] - theta[0] - self.offsets) / PRIOR_PRECISION_OFFSET[1]),
                           *((theta[n + i] - self.tail[i]) / prior[1] for i, (_, prior) in enumerate(TAIL))])
        if free is not None:
            priors = priors[free]
        return np.concatenate([errors, priors, self.context_bounds(theta)])

    def context_bounds(self, theta: np.ndarray) -> np.ndarray:
        """A published context count c bounds the capacity: the workload's load lies in (c - 1, c]."""
        known = ~np.isnan(self.known) & self.multi
        if not known.any():
            return np.zeros(0)
        n = 1 + len(self.others)
        log_ctx_layers, log_ctx_bytes = theta[n + 4], theta[n + 5]
        load = (self.layers[known] / math.exp(log_ctx_layers)
                + self.weight_bytes[known] / math.exp(log_ctx_bytes))
        count = self.known[known]
        above = np.maximum(0.0, np.log(load / count))
        below = np.where(count > 1, np.maximum(0.0, np.log(np.maximum(count - 1, 1e-9) / load)), 0.0)
        return (above + below) / CONTEXT_BOUND_SIGMA
