"""Per-layer workload profile of an ONNX graph: op class, MACs, weight and activation sizes.

Shapes are inferred at batch 1. A quantized (QDQ) graph profiles like its float graph:
QuantizeLinear/DequantizeLinear nodes are bookkeeping, and a Conv's weight is followed
back through its DequantizeLinear to the stored tensor. Element counts are returned, so
the inference model can price them at any precision's bytes per element.

>>> layers = profile_graph("fleetsim/detector/baseline/baseline_int8.onnx")   # doctest: +SKIP
>>> sum(layer.macs for layer in layers)                                         # doctest: +SKIP
47665152
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference

from fleetsim.errors import FleetsimError
from fleetsim.hardware.specs import WorkloadSpec
from fleetsim.hardware.workload import Layer, Workload

_OP_CLASS = {
    "Conv": "conv", "ConvTranspose": "conv", "QLinearConv": "conv", "ConvInteger": "conv",
    "MatMul": "matmul", "Gemm": "matmul", "MatMulInteger": "matmul", "QLinearMatMul": "matmul",
    "Relu": "activation", "Sigmoid": "activation", "Clip": "activation", "LeakyRelu": "activation",
    "HardSigmoid": "activation", "HardSwish": "activation", "Tanh": "activation", "Mul": "elementwise",
    "Add": "elementwise", "Sub": "elementwise", "Div": "elementwise", "BatchNormalization": "elementwise",
    "MaxPool": "pooling", "AveragePool": "pooling", "GlobalAveragePool": "pooling",
    "Resize": "resize", "Upsample": "resize", "Softmax": "softmax", "NonMaxSuppression": "nms",
    "Reshape": "reshape_concat", "Concat": "reshape_concat", "Transpose": "reshape_concat",
    "Flatten": "reshape_concat", "Squeeze": "reshape_concat", "Unsqueeze": "reshape_concat",
    "Slice": "reshape_concat", "Split": "reshape_concat",
}
_MATMUL_OPS = {"MatMul", "MatMulInteger", "QLinearMatMul"}
_BOOKKEEPING = {"QuantizeLinear", "DequantizeLinear", "Identity", "Shape", "Constant", "Cast"}


def profile_graph(path: Path | str) -> list[Layer]:
    """The compute layers of the ONNX graph at ``path``, in graph order."""
    model = onnx.load(str(path))
    for value in (*model.graph.input, *model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].dim_value:
            dims[0].dim_value = 1
    inferred = shape_inference.infer_shapes(model, data_prop=True)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in (*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input)}
    weights = {t.name: t for t in model.graph.initializer}
    producers = {out: node for node in model.graph.node for out in node.output}
    layers = []
    for node in model.graph.node:
        if node.op_type in _BOOKKEEPING:
            continue
        op_class = _OP_CLASS.get(node.op_type, "elementwise")
        activations = [n for n in node.input if n and _weight(n, weights, producers) is None]
        out = int(np.prod(shapes.get(node.output[0], [0]) or [0]))
        read = sum(int(np.prod(shapes.get(n, [0]) or [0])) for n in activations)
        stored = [w for n in node.input[1:] if n and (w := _weight(n, weights, producers)) is not None]
        macs = 0
        if op_class == "conv" and stored:
            kernel = stored[0]
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            macs = out * int(np.prod(kernel.shape[1:]))
            if group > 1 and group == kernel.shape[0]:
                op_class = "depthwise_conv"
        elif op_class == "matmul" and stored:
            transposed = any(a.name == "transB" and a.i for a in node.attribute)
            macs = out * stored[0].shape[1 if transposed else 0]
        product = node.op_type in _MATMUL_OPS and len(activations) == 2  # of two activations (attention)
        if product:
            macs = out * (shapes.get(activations[0]) or [0])[-1]
        if op_class in ("conv", "depthwise_conv", "matmul") and (stored or product) and not macs:
            raise FleetsimError(f"{Path(path).name}: shape inference left the shapes of "
                                f"{node.name or node.op_type} unknown, so its MACs cannot be counted "
                                "(allowed: graphs with static shapes at batch 1)")
        layers.append(Layer(node.name or node.output[0], op_class, macs,
                            sum(w.size for w in stored), read, out))
    return layers


def _weight(name: str, weights, producers) -> np.ndarray | None:
    """A stored tensor feeding ``name``, following DequantizeLinear back to it; None for activations."""
    if name in weights:
        return numpy_helper.to_array(weights[name])
    node = producers.get(name)
    if node is not None and node.op_type in ("DequantizeLinear", "Identity"):
        return _weight(node.input[0], weights, producers)
    return None


def workload_from_graph(path: Path | str) -> Workload:
    """The workload of the ONNX graph at ``path``: its layers, and a spec with their totals."""
    path = Path(path)
    layers = profile_graph(path)
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    source = f"counted from the ONNX graph {path.name} by fleetsim.hardware.graph (batch 1)"
    spec = WorkloadSpec(
        schema_version=1, id=re.sub(r"[^a-z0-9_]", "_", path.stem.lower()).lstrip("_0123456789") or "graph",
        name=f"{path.name} (ONNX graph)", input_size=dims[-1].dim_value or 1,
        macs={"value": float(sum(layer.macs for layer in layers)), "source": source},
        params={"value": float(sum(layer.weights for layer in layers)), "source": source})
    return Workload(spec, tuple(layers), per_layer=True)
