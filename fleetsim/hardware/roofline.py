"""One inference call on a device as a per-layer roofline: its terms, and their price under
fitted parameters.

For one call of ``batch`` inferences at one precision:

    layers     = the workload's layers as runtimes execute them (:func:`executed_layers`): an
                 activation or element-wise layer of its predecessor's shape that follows a
                 conv/matmul runs inside that kernel (TensorRT, TFLite fused activations, the
                 Edge TPU and Hailo compilers all fuse these), so it has no launch and no memory
                 round trip of its own; except that a CPU's int8 graphs keep their element-wise
                 layers (residual adds, the multiply of SiLU) as layers of their own: ONNX
                 Runtime's QDQ int8 graphs run them as QLinearAdd / QLinearMul nodes (the measured
                 CPU's per-node times: 6 QLinearAdd and 57 QLinearMul beside 64 QLinearConv in
                 YOLOv8n)
    layer time = max(compute, memory) + layer overhead
                 (the overhead of a layer without MACs -- pooling, resize, element-wise, reshape
                 and concat -- is the fitted ``light_overhead`` times that of a conv/matmul layer:
                 a different kernel family, dispatched alike but doing far less set-up)
      compute  = 2 x MACs x batch / (peak[precision] x efficiency[precision] x class factor)
                 (a Jetson's int8 throughput point, MLPerf Offline, adds its DLAs' ``dla_peak``
                 to the GPU's for conv/matmul layers: the DLAs take their own share of the frames)
                 (depthwise layers on a device with a ``depthwise_peak`` count against it: an FPGA
                 DPU runs them on its narrower ALU engine)
                 (fp32 conv/matmul layers on a GPU with a ``tf32_peak`` count against that peak:
                 TensorRT's kTF32 builder flag and cuDNN's default math both let fp32 inner
                 products run on the TF32 tensor cores)
                 (a layer without MACs counts one op per activation element it touches; an nms
                 layer reads the class scores handed to it as well as its box codes and costs
                 ``postprocess`` roofline ops per element: decode, threshold and sort are
                 scalar, branchy code)
      memory   = (weights + activations x batch) x bytes per element / memory bandwidth
                 (a device without DRAM bandwidth keeps activations and resident weights on chip)
    call       = call overhead + the device's layer times
               + host-link transfer of the input and of the tensor leaving the device
               + weights beyond on-chip memory, streamed once per inference
               + context switching, on a ``multi_context`` (dataflow) device: a model needs
                 layers / context_layers + weight bytes / context_bytes contexts' worth of
                 the chip; each context beyond the first costs one switch per call, and with a
                 switch every context's weights are reloaded over the host link per call
               (on a host other than the device's ``host_cpu`` -- a calibration point's ``host`` --
                 transfers and streamed weights take a fitted ``host_factor`` times as long and
                 each call a fitted ``host_call_s`` more: the host's USB/PCIe controller, driver
                 and runtime, not the accelerator, set them)
               + fallback: from the first layer of an op class the device cannot run, every
                 layer runs on the host CPU (with that CPU's own roofline and fit), except that
                 the post-processing work of an nms layer is priced at the host's roofline rate
                 times the accelerator's fitted ``postprocess`` factor (only the accelerator's
                 measurements, which include it, can pin it down)
    energy     = active power x device time + host CPU active power x host time
    interval   = steady-state time per call when calls are pipelined (a streaming or large-batch
                 throughput measurement): the host link's DMA, the device's layers and the host's
                 work on consecutive calls overlap, so the slowest of the three stages sets the
                 rate, max(device time - call overhead, transfer, host time); a latency is their sum

The efficiency per precision, the depthwise factor, the layer overheads, the post-processing
factor, the context parameters and the other-host link factor and call time (:class:`DeviceFit`)
are fitted per device to published measurements by :mod:`fleetsim.hardware.fit`, which builds on
this module; :mod:`fleetsim.hardware.inference` puts the two together. Idle power over idle
time is added by the simulation, which knows how long the accelerator sat idle.

>>> from fleetsim.hardware.catalog import load_catalog
>>> catalog = load_catalog()
>>> device, workload = catalog.device("coral_usb"), catalog.profile("mobilenet_v2_224")
>>> terms = call_terms(device, workload, "int8", catalog)                   # doctest: +SKIP
>>> evaluate(device, terms, DeviceFit({"int8": 0.3}, 0.3, 5e-6)).latency_s  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from fleetsim.errors import FleetsimError
from fleetsim.hardware.catalog import Catalog
from fleetsim.hardware.power_modes import overhead_scale
from fleetsim.hardware.specs import DeviceSpec
from fleetsim.hardware.workload import Layer, Workload

BYTES_PER_ELEMENT = {"int8": 1, "fp16": 2, "bf16": 2, "fp32": 4}
MAC_CLASSES = ("conv", "depthwise_conv", "matmul")
FUSABLE_CLASSES = ("activation", "elementwise")
CONTEXT_SMOOTHING = 0.05
"""Width (in contexts) over which the switch count bends from 0 to its linear growth."""


@dataclass(frozen=True)
class DeviceFit:
    """Fitted parameters of one device's roofline."""

    efficiency: dict[str, float]  # precision -> achieved / peak on dense conv and matmul
    depthwise: float  # depthwise-conv efficiency relative to dense
    layer_overhead_s: float  # fixed time per conv/matmul layer (kernel launch, op dispatch)
    light_overhead: float = 1.0  # fixed time of a layer without MACs relative to ``layer_overhead_s``
    postprocess: float = 1.0  # roofline ops per element that detection post-processing reads
    context_switch_s: float = 1e-3  # fixed time of one context switch (multi-context devices)
    context_layers: float = 150.0  # layers one context holds
    context_bytes: float = 20e6  # weight bytes one context holds
    host_factor: float = 1.0  # transfers and streamed weights on a host other than the device's
    # host_cpu, relative to the default host
    host_call_s: float = 1e-3  # extra fixed time per call on such a host (its runtime and driver)
    preprocess: float = 10.0  # host ops per network-input element that pre-processing a frame costs
    numpy_harness_s: float = 6.2e-9  # seconds per network-input element of a numpy script's pre/post work


@dataclass(frozen=True)
class CallTerms:
    """The fit-independent parts of one call, in seconds; the device's layers as arrays."""

    compute_s: np.ndarray  # per device layer, at efficiency 1
    memory_s: np.ndarray  # per device layer
    depthwise: np.ndarray  # per device layer, bool
    precision: str
    call_overhead_s: float
    transfer_s: float
    spill_s: float
    fallback_s: float
    fallback_layers: int
    host_power_w: float
    postprocess: np.ndarray | None = None  # per device layer, bool: detection post-processing
    host_postprocess_s: float = 0.0  # post-processing on the host at 1 op per element read
    weight_bytes: float = 0.0  # weights of the device's layers
    context_reload_s: float | None = None  # all weights over the host link; None: single context
    foreign_host: bool = False  # fed by a host other than the device's host_cpu (a point's ``host``)
    contexts: int | None = None  # published context count of this workload on the device, if any
    mac: np.ndarray | None = None  # per device layer, bool: a conv/depthwise/matmul layer
    overhead_scale: float = 1.0  # layer overheads at the device's power mode / at its stated mode

    def with_library_speedup(self, speedup: float) -> CallTerms:
        """These terms with the MAC layers' compute ``speedup`` times as fast (another kernel library)."""
        if self.mac is None or speedup == 1.0:
            return self
        return replace(self, compute_s=np.where(self.mac, self.compute_s / speedup, self.compute_s))

    def context_s(self, fit: DeviceFit) -> float:
        """Context switches of one call and the weight reloads they cost (0 on a single-context device)."""
        if self.context_reload_s is None:
            return 0.0
        return float(context_s(len(self.compute_s), self.weight_bytes, self.context_reload_s,
                               fit.context_switch_s, fit.context_layers, fit.context_bytes,
                               np.nan if self.contexts is None else self.contexts))

    @property
    def fixed_s(self) -> float:
        return self.call_overhead_s + self.transfer_s + self.spill_s + self.fallback_s

    @property
    def postprocess_mask(self) -> np.ndarray:
        return (np.zeros(len(self.compute_s), dtype=bool) if self.postprocess is None
                else self.postprocess)

    @property
    def light_mask(self) -> np.ndarray:
        """Per device layer, bool: a layer without MACs (its overhead is ``light_overhead`` times less)."""
        return np.zeros(len(self.compute_s), dtype=bool) if self.mac is None else ~self.mac

    def compute_time_s(self, fit: DeviceFit, efficiency: float | None = None) -> np.ndarray:
        """Each device layer's compute time under ``fit`` (``efficiency``: the dense efficiency to
        use instead of the fitted one, e.g. throttled)."""
        if efficiency is None:
            efficiency = fit.efficiency[self.precision]
        rate = np.where(self.depthwise, efficiency * fit.depthwise, efficiency)
        rate = np.where(self.postprocess_mask, rate / fit.postprocess, rate)
        return self.compute_s / rate

    def layer_s(self, fit: DeviceFit) -> np.ndarray:
        """Each device layer's time under ``fit``, compute or memory bound, without its overhead."""
        return np.maximum(self.compute_time_s(fit), self.memory_s)

    def layer_overhead_s(self, fit: DeviceFit) -> np.ndarray:
        """Each device layer's fixed time (kernel launch, op dispatch) under ``fit``."""
        return fit.layer_overhead_s * self.overhead_scale * np.where(self.light_mask, fit.light_overhead, 1.0)


@dataclass(frozen=True)
class InferenceCost:
    """Time and energy of one call on one device, with the parts of its latency."""

    latency_s: float
    energy_j: float
    layers_s: float  # the device's layer times (compute or memory bound, each)
    memory_bound_layers: int
    overhead_s: float  # call overhead + layer overheads
    transfer_s: float
    spill_s: float
    fallback_s: float
    fallback_layers: int
    efficiency: float
    interval_s: float = 0.0  # steady-state time per call when calls are pipelined (the slowest stage)


def supported(device: DeviceSpec, precision: str) -> bool:
    """Whether the device has a peak figure (and so can run) at ``precision``."""
    return precision in device.peak


def evaluate(device: DeviceSpec, terms: CallTerms, fit: DeviceFit, throttled: bool = False) -> InferenceCost:
    """Price ``terms`` with the fitted parameters ``fit``."""
    if terms.foreign_host:
        f = fit.host_factor
        terms = replace(terms, call_overhead_s=terms.call_overhead_s + fit.host_call_s,
                        transfer_s=terms.transfer_s * f, spill_s=terms.spill_s * f, foreign_host=False)
    efficiency = fit.efficiency[terms.precision]
    if throttled and device.thermal is not None:
        efficiency *= device.thermal.sustained_fraction.value
    compute = terms.compute_time_s(fit, efficiency)
    layers = np.maximum(compute, terms.memory_s)
    layers_s = float(layers.sum())
    overhead = terms.call_overhead_s + float(terms.layer_overhead_s(fit).sum())
    compute_stage_s = layers_s + overhead + terms.spill_s + terms.context_s(fit)
    device_s = compute_stage_s + terms.transfer_s
    host_s = terms.fallback_s + fit.postprocess * terms.host_postprocess_s
    return InferenceCost(
        latency_s=device_s + host_s,
        interval_s=max(compute_stage_s - terms.call_overhead_s, terms.transfer_s, host_s),
        energy_j=device.active_power.value * device_s + terms.host_power_w * host_s,
        layers_s=layers_s, memory_bound_layers=int((terms.memory_s > compute).sum()),
        overhead_s=overhead, transfer_s=terms.transfer_s, spill_s=terms.spill_s,
        fallback_s=host_s, fallback_layers=terms.fallback_layers, efficiency=efficiency)


def call_terms(device: DeviceSpec, workload: Workload, precision: str, catalog: Catalog,
               batch: int = 1, host: str | None = None, with_dla: bool = False,
               host_fit: DeviceFit | None = None) -> CallTerms:
    """Everything about one call that does not depend on the device's fitted parameters;
    ``with_dla``: int8 conv/matmul layers also count the device's ``dla_peak`` (a steady-state
    throughput run that streams frames to the GPU and the DLAs at once, at the same efficiency);
    ``host_fit``: the fitted parameters of :func:`fallback_host`, which prices the layers the
    device cannot run (needed only when there are such layers)."""
    if not supported(device, precision):
        raise FleetsimError(f"{device.id} cannot run {precision} (allowed: {', '.join(sorted(device.peak))})")
    return _layer_terms(device, workload, executed_layers(device, workload, precision), precision, catalog,
                        batch, host, with_dla, host_fit)


def fallback_host(device: DeviceSpec, workload: Workload, catalog: Catalog,
                  host: str | None = None) -> DeviceSpec | None:
    """The host CPU that runs the layers of ``workload`` that ``device`` cannot (``host``, else the
    device's ``host_cpu``), or None when the device runs them all."""
    layers = fused_layers(workload.layers)
    cut = _first_unsupported(device, layers)
    return _host(device, workload, catalog, host, layers[cut].op_class) if cut < len(layers) else None


def executed_layers(device: DeviceSpec, workload: Workload, precision: str) -> tuple[Layer, ...]:
    """The layers of ``workload`` as ``device``'s runtime executes them at ``precision``
    (:func:`fused_layers`): a CPU's int8 graphs keep their element-wise layers apart."""
    unfused = device.accelerator_class == "cpu" and precision == "int8"
    return fused_layers(workload.layers, fuse_elementwise=not unfused)


def fused_layers(layers: tuple[Layer, ...], fuse_elementwise: bool = True) -> tuple[Layer, ...]:
    """``layers`` as runtimes execute them: pointwise layers folded into the layer they follow,
    and detection post-processing reading the scores handed to it.

    An activation (or, with ``fuse_elementwise``, element-wise) layer that keeps its
    predecessor's output shape, following a MAC layer (or a layer already folded into one), runs
    inside that layer's kernel: no launch of its own, no round trip of the tensor through memory;
    only a further operand it reads (the skip tensor of a residual add) adds traffic. An ``nms``
    layer also reads the tensor of the layer before it (the class scores), not only its box codes.
    """
    out: list[Layer] = []
    fusable = False
    for layer in layers:
        if layer.op_class == "nms" and out:
            layer = replace(layer, inputs=layer.inputs + out[-1].outputs)
        if (fusable and layer.op_class in FUSABLE_CLASSES and layer.outputs == out[-1].outputs
                and (fuse_elementwise or layer.op_class != "elementwise")):
            prev = out[-1]
            extra = max(0, layer.inputs - prev.outputs)  # e.g. the skip tensor of a residual add
            out[-1] = replace(prev, name=f"{prev.name}+{layer.name}", inputs=prev.inputs + extra)
            continue
        out.append(layer)
        fusable = layer.op_class in MAC_CLASSES
    return tuple(out)


def _layer_terms(device: DeviceSpec, workload: Workload, layers: tuple[Layer, ...], precision: str,
                 catalog: Catalog, batch: int, host: str | None, with_dla: bool = False,
                 host_fit: DeviceFit | None = None) -> CallTerms:
    cut = _first_unsupported(device, layers)
    on_device = layers[:cut]
    element = BYTES_PER_ELEMENT[precision]
    macs = np.array([x.macs for x in on_device], dtype=float)
    weights = np.array([x.weights for x in on_device], dtype=float)
    touched = np.array([x.inputs + x.outputs for x in on_device], dtype=float)
    is_mac = np.array([x.op_class in MAC_CLASSES for x in on_device], dtype=bool)
    ops = np.where(is_mac, 2 * macs, touched) * batch
    peak = np.full(len(on_device), device.peak[precision].value)
    if precision == "fp32" and device.tf32_peak is not None:
        peak = np.where(is_mac, device.tf32_peak.value, peak)
    depthwise = np.array([x.op_class == "depthwise_conv" for x in on_device], dtype=bool)
    if device.depthwise_peak is not None:
        peak = np.where(depthwise, device.depthwise_peak.value, peak)
    if with_dla and precision == "int8" and device.dla_peak is not None:
        peak = np.where(is_mac, peak + device.dla_peak.value, peak)
    memory = _memory_s(device, (weights + touched * batch) * element)
    fallback_s, host_post_s, host_power = 0.0, 0.0, 0.0
    if cut < len(layers):
        host_device = _host(device, workload, catalog, host, layers[cut].op_class)
        if host_fit is None:
            raise ValueError(f"{device.id} hands layers of {workload.id} to {host_device.id}: "
                             "pricing them needs that host's fit (host_fit)")
        fallback_s, host_post_s = _fallback(host_device, workload, layers[cut:], precision, catalog, batch,
                                            host_fit)
        host_power = host_device.active_power.value
    scale = overhead_scale(device, catalog.devices.get(device.id, device))
    leaving = on_device[-1].outputs if on_device else 0
    transfer = 0.0
    if device.host_link is not None:
        entering = workload.input_elements if on_device else 0
        transfer = (entering + leaving) * element * batch / device.host_link.bandwidth.value
    return CallTerms(
        compute_s=ops / peak, memory_s=memory,
        depthwise=depthwise,
        precision=precision,
        call_overhead_s=device.call_overhead.value * scale if device.call_overhead else 0.0,
        transfer_s=transfer, spill_s=_spill_s(device, float(weights.sum()) * element) * batch,
        fallback_s=fallback_s, fallback_layers=len(layers) - cut, host_power_w=host_power,
        postprocess=np.array([x.op_class == "nms" for x in on_device], dtype=bool),
        host_postprocess_s=host_post_s, weight_bytes=float(weights.sum()) * element,
        context_reload_s=_reload_s(device, float(weights.sum()) * element),
        foreign_host=(host is not None and host != device.host_cpu and device.host_link is not None),
        contexts=(device.contexts[workload.id].value if workload.id in device.contexts else None),
        mac=is_mac, overhead_scale=scale)


def _memory_s(device: DeviceSpec, moved: np.ndarray) -> np.ndarray:
    """Each layer's memory time for the bytes it moves: at the cache bandwidth when they fit the
    device's cache, else at the memory bandwidth (nothing without DRAM: all on chip)."""
    if device.memory_bandwidth is None:
        return np.zeros(len(moved))
    memory = moved / device.memory_bandwidth.value
    if device.cache_bytes is None:
        return memory
    return np.where(moved <= device.cache_bytes.value, moved / device.cache_bandwidth.value, memory)


def context_s(layers, weight_bytes, reload_s, switch_s: float, per_context_layers: float,
              per_context_bytes: float, known=np.nan):
    """Time a multi-context call spends switching contexts (works on arrays too).

    A model needs ``layers / per_context_layers + weight_bytes / per_context_bytes`` contexts'
    worth of the chip; every context beyond the first is one switch per call (smoothed so the
    fit sees a gradient near one context), and once there is a switch every context's weights
    are reloaded over the host link per call (``reload_s``). A published context count
    (``known``, NaN where there is none) replaces the estimate.
    """
    load = layers / per_context_layers + weight_bytes / per_context_bytes
    switches = CONTEXT_SMOOTHING * np.logaddexp(0.0, (load - 1) / CONTEXT_SMOOTHING)
    switches = np.where(np.isnan(known), switches, np.nan_to_num(known, nan=1.0) - 1.0)
    return switches * switch_s + np.minimum(switches, 1.0) * reload_s


def _reload_s(device: DeviceSpec, weight_bytes: float) -> float | None:
    if device.multi_context is None or not device.multi_context.value:
        return None
    if device.host_link is None:
        raise FleetsimError(f"{device.id}: multi_context needs a host_link to reload weights over")
    return weight_bytes / device.host_link.bandwidth.value


def _fallback(host: DeviceSpec, workload: Workload, layers: tuple[Layer, ...], precision: str,
              catalog: Catalog, batch: int, fit: DeviceFit) -> tuple[float, float]:
    """Host time of the layers after the cut, priced with the host's own ``fit``, with detection
    post-processing split off at one roofline op per element (the accelerator's fit scales it)."""
    host_precision = precision if precision in host.peak else "fp32"
    terms = _layer_terms(host, workload, layers, host_precision, catalog, batch, None)
    post = terms.postprocess_mask
    post_s = float(terms.compute_s[post].sum()) / fit.efficiency[host_precision]
    rest = replace(terms, compute_s=np.where(post, 0.0, terms.compute_s),
                   memory_s=np.where(post, 0.0, terms.memory_s))
    return evaluate(host, rest, fit).latency_s, post_s


def _first_unsupported(device: DeviceSpec, layers: tuple[Layer, ...]) -> int:
    """Index of the first layer the device cannot run (the layer count when it runs them all)."""
    if device.operators is None:
        return len(layers)
    native = set(device.operators)
    return next((i for i, x in enumerate(layers) if x.op_class not in native), len(layers))


def _host(device: DeviceSpec, workload: Workload, catalog: Catalog, host: str | None,
          op_class: str) -> DeviceSpec:
    host_id = host or device.host_cpu
    if host_id is None:
        raise FleetsimError(f"{device.id} cannot run {op_class} layers of {workload.id} and names no "
                            f"host_cpu to run them (allowed op classes: {', '.join(device.operators)})")
    return catalog.device(host_id)


def _spill_s(device: DeviceSpec, weight_bytes: float) -> float:
    """Time to stream the weights that do not fit in on-chip memory, once."""
    if device.on_chip_memory is None:
        return 0.0
    spilled = max(0.0, weight_bytes - device.on_chip_memory.value)
    link = device.host_link.bandwidth if device.host_link else device.memory_bandwidth
    if spilled and link is None:
        raise FleetsimError(f"{device.id}: weights exceed on-chip memory but the device has neither a "
                            "host_link nor a memory_bandwidth to stream them over")
    return spilled / link.value if spilled else 0.0
