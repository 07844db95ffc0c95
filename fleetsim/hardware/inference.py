"""Inference latency and energy of a workload on a device: a per-layer roofline.

For one call of ``batch`` inferences at one precision:

    layer time = max(compute, memory) + layer overhead
      compute  = 2 x MACs x batch / (peak[precision] x efficiency[precision] x class factor)
                 (a layer without MACs counts one op per activation element it touches)
      memory   = (weights + activations x batch) x bytes per element / memory bandwidth
                 (a device without DRAM bandwidth keeps activations and resident weights on chip)
    call       = call overhead + the device's layer times
               + host-link transfer of the input and of the tensor leaving the device
               + weights beyond on-chip memory, streamed once per inference
               + fallback: from the first layer of an op class the device cannot run, every
                 layer runs on the host CPU (with that CPU's own roofline)
    energy     = active power x device time + host CPU active power x fallback time

The efficiency per precision, the depthwise factor and the layer overhead are fitted per
device to published measurements (:mod:`fleetsim.hardware.fit`). Idle power over idle time
is added by the simulation, which knows how long the accelerator sat idle.

>>> from fleetsim.hardware.catalog import load_catalog
>>> catalog = load_catalog()
>>> cost = inference_cost(catalog.device("coral_usb"), catalog.profile("mobilenet_v2_224"), "int8",
...                       catalog)                                            # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fleetsim.errors import FleetsimError
from fleetsim.hardware.catalog import Catalog
from fleetsim.hardware.specs import DeviceSpec
from fleetsim.hardware.workload import Workload

BYTES_PER_ELEMENT = {"int8": 1, "fp16": 2, "bf16": 2, "fp32": 4}
MAC_CLASSES = ("conv", "depthwise_conv", "matmul")
THROUGHPUT_BATCH = 32
"""Batch at which a steady-state throughput is predicted (call overhead amortised away)."""


@dataclass(frozen=True)
class DeviceFit:
    """Fitted parameters of one device's roofline."""

    efficiency: dict[str, float]  # precision -> achieved / peak on dense conv and matmul
    depthwise: float  # depthwise-conv efficiency relative to dense
    layer_overhead_s: float  # fixed time per layer (kernel launch, op dispatch)


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

    @property
    def fixed_s(self) -> float:
        return self.call_overhead_s + self.transfer_s + self.spill_s + self.fallback_s


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


def supported(device: DeviceSpec, precision: str) -> bool:
    """Whether the device has a peak figure (and so can run) at ``precision``."""
    return precision in device.peak


def calibrated_precisions(device: DeviceSpec) -> list[str]:
    """Precisions the device supports and has at least one calibration point for."""
    return sorted({p.precision for p in device.calibration if p.precision in device.peak})


def inference_cost(device: DeviceSpec, workload: Workload, precision: str, catalog: Catalog,
                   batch: int = 1, throttled: bool = False, host: str | None = None) -> InferenceCost:
    """Latency and energy of one call of ``batch`` inferences of ``workload`` on ``device``;
    ``throttled`` applies the device's sustained-load speed, ``host`` overrides its host CPU."""
    from fleetsim.hardware.fit import device_fit

    terms = call_terms(device, workload, precision, catalog, batch, host)
    return evaluate(device, terms, device_fit(device, catalog), throttled)


def evaluate(device: DeviceSpec, terms: CallTerms, fit: DeviceFit, throttled: bool = False) -> InferenceCost:
    """Price ``terms`` with the fitted parameters ``fit``."""
    efficiency = fit.efficiency[terms.precision]
    if throttled and device.thermal is not None:
        efficiency *= device.thermal.sustained_fraction.value
    rate = np.where(terms.depthwise, efficiency * fit.depthwise, efficiency)
    compute = terms.compute_s / rate
    layers = np.maximum(compute, terms.memory_s)
    layers_s = float(layers.sum())
    overhead = terms.call_overhead_s + fit.layer_overhead_s * len(layers)
    device_s = layers_s + overhead + terms.transfer_s + terms.spill_s
    return InferenceCost(
        latency_s=device_s + terms.fallback_s,
        energy_j=device.active_power.value * device_s + terms.host_power_w * terms.fallback_s,
        layers_s=layers_s, memory_bound_layers=int((terms.memory_s > compute).sum()),
        overhead_s=overhead, transfer_s=terms.transfer_s, spill_s=terms.spill_s,
        fallback_s=terms.fallback_s, fallback_layers=terms.fallback_layers, efficiency=efficiency)


def call_terms(device: DeviceSpec, workload: Workload, precision: str, catalog: Catalog,
               batch: int = 1, host: str | None = None) -> CallTerms:
    """Everything about one call that does not depend on the device's fitted parameters."""
    if not supported(device, precision):
        raise FleetsimError(f"{device.id} cannot run {precision} (allowed: {', '.join(sorted(device.peak))})")
    layers = workload.layers
    cut = _first_unsupported(device, workload)
    on_device = layers[:cut]
    element = BYTES_PER_ELEMENT[precision]
    macs = np.array([x.macs for x in on_device], dtype=float)
    weights = np.array([x.weights for x in on_device], dtype=float)
    touched = np.array([x.inputs + x.outputs for x in on_device], dtype=float)
    is_mac = np.array([x.op_class in MAC_CLASSES for x in on_device], dtype=bool)
    ops = np.where(is_mac, 2 * macs, touched) * batch
    peak = device.peak[precision].value
    bandwidth = device.memory_bandwidth.value if device.memory_bandwidth else None
    memory = ((weights + touched * batch) * element / bandwidth if bandwidth
              else np.zeros(len(on_device)))
    fallback_s, host_power = 0.0, 0.0
    if cut < len(layers):
        host_device = _host(device, workload, catalog, host, layers[cut].op_class)
        host_precision = precision if precision in host_device.peak else "fp32"
        rest = Workload(workload.spec, layers[cut:], workload.per_layer)
        fallback_s = inference_cost(host_device, rest, host_precision, catalog, batch).latency_s
        host_power = host_device.active_power.value
    leaving = on_device[-1].outputs if on_device else 0
    transfer = 0.0
    if device.host_link is not None:
        entering = workload.input_elements if on_device else 0
        transfer = (entering + leaving) * element * batch / device.host_link.bandwidth.value
    return CallTerms(
        compute_s=ops / peak, memory_s=memory,
        depthwise=np.array([x.op_class == "depthwise_conv" for x in on_device], dtype=bool),
        precision=precision,
        call_overhead_s=device.call_overhead.value if device.call_overhead else 0.0,
        transfer_s=transfer, spill_s=_spill_s(device, float(weights.sum()) * element) * batch,
        fallback_s=fallback_s, fallback_layers=len(layers) - cut, host_power_w=host_power)


def _first_unsupported(device: DeviceSpec, workload: Workload) -> int:
    """Index of the first layer the device cannot run (the layer count when it runs them all)."""
    if device.operators is None:
        return len(workload.layers)
    native = set(device.operators)
    return next((i for i, x in enumerate(workload.layers) if x.op_class not in native), len(workload.layers))


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
