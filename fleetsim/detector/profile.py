"""Size and compute of an ONNX model, read from its graph.

MACs are counted per Conv node from shapes inferred at batch 1 (fp32 graph, or an int8
QDQ graph: the Conv nodes are the same). Parameters are the weight tensors' elements.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference


@dataclass(frozen=True)
class GraphProfile:
    macs: int  # multiply-accumulates per frame
    params: int  # weight elements of Conv layers
    file_bytes: int
    conv_layers: int


def profile(path: Path | str) -> GraphProfile:
    model = onnx.load(str(path))
    for value in (*model.graph.input, *model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_value = 1
    inferred = shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in (*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input)}
    weights = {t.name: t for t in model.graph.initializer}
    producers = {out: node for node in model.graph.node for out in node.output}
    macs = params = layers = 0
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        weight = _weight(node.input[1], weights, producers)
        c_out, c_in_per_group, kh, kw = weight.shape
        out = shapes[node.output[0]]
        macs += int(np.prod(out[1:])) * c_in_per_group * kh * kw
        params += weight.size + c_out
        layers += 1
    return GraphProfile(macs=macs, params=params, file_bytes=Path(path).stat().st_size, conv_layers=layers)


def _weight(name: str, weights, producers) -> np.ndarray:
    """A Conv weight, following a DequantizeLinear back to its stored int8 tensor in QDQ graphs."""
    if name in weights:
        return numpy_helper.to_array(weights[name])
    node = producers[name]
    return _weight(node.input[0], weights, producers)
