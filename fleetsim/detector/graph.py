"""The detector graph ONNX Runtime runs: the exported model with its pre-processing before it
and its decoding after it, appended as ONNX operators so that ONNX Runtime's own kernels do
all the per-frame work.

Before the model: uint8 frames (B, H, W, 3) are laid out as (B, 3, H, W) and scaled to [0, 1]
(``training.to_tensor``, bit for bit), or, where the model's first QuantizeLinear gives every
pixel back (scale 1/255, zero point 0, checked on all 256 values), fed to the model as they are
in place of that node's output. After it: ``targets.decode`` without its threshold, per
frame: 3x3 peak suppression (MaxPool), the best ``top_k`` cells (TopK, best first), each
cell's class, and its box from the size and offset heads, assembled in float64 as numpy does
(so the boxes are ``decode``'s to the bit). The caller keeps the slots above its threshold.
The model's own nodes and weights are not touched; the graph is built from them at load time.
The head maps stay graph outputs only where asked for (``keep_heads``): ONNX Runtime runs
every node of a graph whatever the call fetches, and each output of a quantized model's head
costs a DequantizeLinear of its own.

>>> import onnx
>>> from fleetsim.detector.baseline import baseline_path
>>> model = onnx.load(str(baseline_path("int8")))
>>> [o.name for o in with_decoding(model).graph.output]
['score', 'cls', 'box']
>>> [o.name for o in with_decoding(model, keep_heads=True).graph.output]
['score', 'cls', 'box', 'heatmap', 'size', 'offset']
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from fleetsim.detector.interface import INPUT, OPSET, OUTPUTS, STRIDE

IMAGES = "images"
"""The wrapped graph's input: uint8 frames (B, H, W, 3)."""
DETECTIONS = ("score", "cls", "box")
"""Its decoded outputs, ``top_k`` slots per frame, best first: score float32 (B, K), class int64
(B, K), box float32 (B, K, 4)."""
TOP_K = 32
_PREFIX = "fleetsim_"


def with_decoding(model: onnx.ModelProto, top_k: int = TOP_K, keep_heads: bool = False) -> onnx.ModelProto:
    """``model`` (float NCHW frames in, heads out) with pre-processing and decoding appended; its
    head maps are outputs too with ``keep_heads``."""
    graph = model.graph
    frames = next(i for i in graph.input if i.name == INPUT)
    _, _, height, width = (d.dim_value for d in frames.type.tensor_type.shape.dim)
    heads = {o.name: o for o in graph.output}
    _, classes, h, w = (d.dim_value for d in heads[OUTPUTS[0]].type.tensor_type.shape.dim)
    if not all((height, width, classes, h, w)):
        raise ValueError("the detector graph needs static frame and head sizes (only the batch may vary)")
    k = min(top_k, classes * h * w)
    constants = {
        "zero": np.array(0.0, dtype=np.float32),
        "stride": np.array(STRIDE, dtype=np.float32), "two": np.array(2.0, dtype=np.float32),
        "stride64": np.array(STRIDE, dtype=np.float64),
        "k": np.array([k], dtype=np.int64), "cells": np.array(h * w, dtype=np.int64),
        "w": np.array(w, dtype=np.int64), "flat": np.array([0, -1], dtype=np.int64),
        "flat2": np.array([0, 2, -1], dtype=np.int64), "axis1": np.array([1], dtype=np.int64),
        "heat_shape": np.array([0, classes, h, w], dtype=np.int64),
    }
    heatmap, size, offset = OUTPUTS
    core = list(graph.node)
    nodes = [helper.make_node("Transpose", [IMAGES], [_n("nchw")], perm=[0, 3, 1, 2])]
    quantize = next((q for q in core if q.op_type == "QuantizeLinear" and q.input[0] == INPUT), None)
    if quantize is not None and _quantizes_pixels_to_themselves(graph, quantize):
        # to_tensor then the model's first QuantizeLinear give each pixel back: skip both
        core = [_renamed(node, quantize.output[0], _n("nchw")) for node in core if node is not quantize]
    else:  # to_tensor
        constants["inv255"] = np.array(1 / 255, dtype=np.float32)
        nodes += [helper.make_node("Cast", [_n("nchw")], [_n("float")], to=TensorProto.FLOAT),
                  helper.make_node("Mul", [_n("float"), _n("inv255")], [INPUT])]
    post = [
        # The heatmap's one reader: ONNX Runtime gives a quantized model's DequantizeLinear a copy
        # per reader, and a Reshape to its own shape is not optimised away as an Identity is.
        helper.make_node("Reshape", [heatmap, _n("heat_shape")], [_n("heat")]),
        # peaks: cells no lower than their 3x3 neighbourhood, others 0 (the heatmap is a sigmoid's,
        # in [0, 1]: times 1 it is itself, times 0 it is +0, as Where(is_peak, heat, 0) gives, faster)
        helper.make_node("MaxPool", [_n("heat")], [_n("pooled")], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("GreaterOrEqual", [_n("heat"), _n("pooled")], [_n("is_peak")]),
        helper.make_node("Cast", [_n("is_peak")], [_n("peak_weight")], to=TensorProto.FLOAT),
        helper.make_node("Mul", [_n("heat"), _n("peak_weight")], [_n("peaks")]),
        helper.make_node("Reshape", [_n("peaks"), _n("flat")], [_n("peaks_flat")]),
        helper.make_node("TopK", [_n("peaks_flat"), _n("k")], ["score", _n("best")], axis=-1, largest=1,
                         sorted=1),
        helper.make_node("Div", [_n("best"), _n("cells")], ["cls"]),
        helper.make_node("Mod", [_n("best"), _n("cells")], [_n("cell")]),
        helper.make_node("Div", [_n("cell"), _n("w")], [_n("cy")]),
        helper.make_node("Mod", [_n("cell"), _n("w")], [_n("cx")]),
        # each slot's size and offset: (B, 2, K)
        helper.make_node("Unsqueeze", [_n("cell"), _n("axis1")], [_n("cell1")]),
        helper.make_node("Concat", [_n("cell1"), _n("cell1")], [_n("cell2")], axis=1),
        helper.make_node("Reshape", [size, _n("flat2")], [_n("size_flat")]),
        helper.make_node("Reshape", [offset, _n("flat2")], [_n("offset_flat")]),
        helper.make_node("GatherElements", [_n("size_flat"), _n("cell2")], [_n("wh")], axis=2),
        helper.make_node("GatherElements", [_n("offset_flat"), _n("cell2")], [_n("oxy")], axis=2),
        # box: centre (cell + offset) * stride in float64, half extent max(size, 0) * stride / 2 in float32
        helper.make_node("Unsqueeze", [_n("cx"), _n("axis1")], [_n("cx1")]),
        helper.make_node("Unsqueeze", [_n("cy"), _n("axis1")], [_n("cy1")]),
        helper.make_node("Concat", [_n("cx1"), _n("cy1")], [_n("cxy")], axis=1),
        helper.make_node("Cast", [_n("cxy")], [_n("cxy64")], to=TensorProto.DOUBLE),
        helper.make_node("Cast", [_n("oxy")], [_n("oxy64")], to=TensorProto.DOUBLE),
        helper.make_node("Add", [_n("cxy64"), _n("oxy64")], [_n("centre_cells")]),
        helper.make_node("Mul", [_n("centre_cells"), _n("stride64")], [_n("centre")]),
        helper.make_node("Max", [_n("wh"), _n("zero")], [_n("wh_pos")]),
        helper.make_node("Mul", [_n("wh_pos"), _n("stride")], [_n("extent")]),
        helper.make_node("Div", [_n("extent"), _n("two")], [_n("half")]),
        helper.make_node("Cast", [_n("half")], [_n("half64")], to=TensorProto.DOUBLE),
        helper.make_node("Sub", [_n("centre"), _n("half64")], [_n("lo")]),
        helper.make_node("Add", [_n("centre"), _n("half64")], [_n("hi")]),
        helper.make_node("Concat", [_n("lo"), _n("hi")], [_n("corners64")], axis=1),
        helper.make_node("Cast", [_n("corners64")], [_n("corners")], to=TensorProto.FLOAT),
        helper.make_node("Transpose", [_n("corners")], ["box"], perm=[0, 2, 1]),
    ]
    initializers = [numpy_helper.from_array(v, _n(name)) for name, v in constants.items()]
    wrapped = helper.make_graph(
        nodes + core + post, graph.name,
        [helper.make_tensor_value_info(IMAGES, TensorProto.UINT8, ["batch", height, width, 3])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch", k]),
         helper.make_tensor_value_info("cls", TensorProto.INT64, ["batch", k]),
         helper.make_tensor_value_info("box", TensorProto.FLOAT, ["batch", k, 4]),
         *(graph.output if keep_heads else [])],
        list(graph.initializer) + initializers, value_info=list(graph.value_info))
    out = helper.make_model(wrapped, opset_imports=model.opset_import, producer_name="fleetsim")
    out.ir_version = model.ir_version
    onnx.checker.check_model(out)
    return out


def _quantizes_pixels_to_themselves(graph: onnx.GraphProto, quantize: onnx.NodeProto) -> bool:
    """Whether ``quantize`` maps every uint8 pixel value, scaled as ``to_tensor`` does, back to itself
    (ONNX Runtime's own kernels decide, on all 256 values)."""
    constants = {i.name: i for i in graph.initializer if i.name in quantize.input[1:]}
    if len(constants) != len(quantize.input) - 1 or any(len(c.dims) for c in constants.values()):
        return False
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 256)
    probe = helper.make_graph(
        [helper.make_node("Cast", ["p"], ["f"], to=TensorProto.FLOAT),
         helper.make_node("Mul", ["f", "inv255"], ["x"]),
         helper.make_node("QuantizeLinear", ["x", *quantize.input[1:]], ["q"])],
        "probe", [helper.make_tensor_value_info("p", TensorProto.UINT8, [1, 256])],
        [helper.make_tensor_value_info("q", constants[quantize.input[2]].data_type if len(quantize.input) > 2
                                       else TensorProto.UINT8, [1, 256])],
        [numpy_helper.from_array(np.array(1 / 255, dtype=np.float32), "inv255"), *constants.values()])
    model = helper.make_model(probe, opset_imports=[helper.make_opsetid("", OPSET)])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (q,) = session.run(None, {"p": pixels})
    return q.dtype == np.uint8 and np.array_equal(q, pixels)


def _renamed(node: onnx.NodeProto, old: str, new: str) -> onnx.NodeProto:
    """``node`` reading ``new`` where it read ``old``."""
    copy = onnx.NodeProto()
    copy.CopyFrom(node)
    for i, name in enumerate(copy.input):
        if name == old:
            copy.input[i] = new
    return copy


def _n(name: str) -> str:
    """The name of an appended tensor, prefixed so that it cannot clash with the model's."""
    return _PREFIX + name
