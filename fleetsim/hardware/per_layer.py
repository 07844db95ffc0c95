"""The per-layer model checked against measured per-node times, per op class and per workload.

``fleetsim hardware measure`` writes, beside its model-level points, the median time of every
node ORT ran (``<points>_layers.csv``). Here both sides are put into the same op classes:

- measured nodes by their ORT op type and, for convolutions, their weight shape
  (:func:`node_class`): ORT fuses activations, residual adds and (int8) the quantize /
  dequantize pairs into the convolution it runs, as the roofline's
  :func:`~fleetsim.hardware.roofline.fused_layers` assumes;
- predicted layers by their profile's op class, with a dense convolution whose kernel covers
  one pixel called ``pointwise`` (:func:`layer_class`);

and a device fitted on its points prices every predicted layer (:func:`predicted_by_class`).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from fleetsim.hardware.calibrate import read_points
from fleetsim.hardware.catalog import Catalog
from fleetsim.hardware.roofline import DeviceFit, call_terms, executed_layers
from fleetsim.hardware.specs import DeviceSpec
from fleetsim.hardware.workload import Layer

COMPARED_CLASSES = ("conv", "pointwise", "depthwise_conv", "pooling", "resize", "elementwise", "matmul",
                    "reshape_concat", "quantize", "layout", "nms")
"""Op classes of the comparison: the profile's, with dense convs split by kernel size, and two that
exist only in ORT's executed graph (``quantize``: stand-alone (de)quantize nodes; ``layout``:
NCHWc reorders around blocked-layout kernels)."""

_NODE_CLASS = {
    "MaxPool": "pooling", "AveragePool": "pooling", "GlobalAveragePool": "pooling",
    "QLinearAveragePool": "pooling", "QLinearGlobalAveragePool": "pooling", "GlobalMaxPool": "pooling",
    "Resize": "resize", "Upsample": "resize",
    "MatMul": "matmul", "Gemm": "matmul", "FusedGemm": "matmul", "QLinearMatMul": "matmul",
    "MatMulInteger": "matmul", "QGemm": "matmul", "FusedMatMul": "matmul", "MatMulIntegerToFloat": "matmul",
    "QuantizeLinear": "quantize", "DequantizeLinear": "quantize", "DynamicQuantizeLinear": "quantize",
    "ReorderInput": "layout", "ReorderOutput": "layout",
    "Reshape": "reshape_concat", "Concat": "reshape_concat", "QLinearConcat": "reshape_concat",
    "Transpose": "reshape_concat", "Flatten": "reshape_concat", "Squeeze": "reshape_concat",
    "Unsqueeze": "reshape_concat", "Slice": "reshape_concat", "Split": "reshape_concat",
    "Softmax": "elementwise", "NonMaxSuppression": "nms",
}
_CONVS = {"Conv", "FusedConv", "QLinearConv", "ConvInteger", "NhwcFusedConv", "NhwcConv", "ConvTranspose"}


def node_class(op_type: str, weight_shape: list[int] | None = None) -> str:
    """The comparison class of an ORT node: a convolution by its weight shape (out, in / groups,
    kh, kw), other nodes by their op type (anything unlisted is element-wise)."""
    if op_type in _CONVS:
        if weight_shape and len(weight_shape) == 4:
            if weight_shape[1] == 1 and weight_shape[0] > 1:
                return "depthwise_conv"
            if weight_shape[2] * weight_shape[3] == 1:
                return "pointwise"
        return "conv"
    return _NODE_CLASS.get(op_type, "elementwise")


def layer_class(layer: Layer) -> str:
    """The comparison class of a profile layer: a dense conv whose kernel covers one input pixel
    is ``pointwise`` (:attr:`~fleetsim.hardware.workload.Layer.pointwise`), activations count as
    element-wise."""
    if layer.pointwise:
        return "pointwise"
    if layer.op_class in ("activation", "softmax"):
        return "elementwise"
    return layer.op_class


@dataclass(frozen=True)
class MeasuredPoints:
    """Model-level and per-node times measured on one machine (what ``fleetsim hardware measure`` writes)."""

    model_s: dict[tuple[str, str], float]  # (workload, precision) -> seconds per inference
    nodes_s: dict[tuple[str, str], dict[str, float]]  # (workload, precision) -> op class -> seconds

    @property
    def workloads(self) -> list[str]:
        return sorted({w for w, _ in self.model_s})


def read_measured(points: Path, layers: Path | None = None) -> MeasuredPoints:
    """The points in ``points`` (a ``fleetsim hardware measure`` CSV) and, if it exists, its per-node
    file (default ``<stem>_layers.csv`` beside it), summed per op class."""
    model_s = {(p.workload, p.precision): p.latency for p in read_points(points)}
    layers = layers or points.with_name(points.stem + "_layers.csv")
    nodes_s: dict[tuple[str, str], dict[str, float]] = {}
    if layers.is_file():
        with layers.open(newline="") as f:
            for row in csv.DictReader(f):
                by_class = nodes_s.setdefault((row["workload"], row["precision"]), {})
                by_class[row["op_class"]] = by_class.get(row["op_class"], 0.0) + float(row["seconds"])
    return MeasuredPoints(model_s, nodes_s)


def predicted_by_class(device: DeviceSpec, fit: DeviceFit, workload_id: str, precision: str,
                       catalog: Catalog) -> dict[str, float]:
    """Seconds the fitted per-layer model gives each comparison class of one call (layer overheads
    included, the call overhead under ``call``)."""
    workload = catalog.profile(workload_id)
    layers = executed_layers(device, workload, precision)
    terms = call_terms(device, workload, precision, catalog)
    seconds = terms.layer_s(fit) + terms.layer_overhead_s(fit)
    out: dict[str, float] = {"call": terms.call_overhead_s}
    for layer, s in zip(layers, seconds, strict=True):
        key = layer_class(layer)
        out[key] = out.get(key, 0.0) + float(s)
    return out
