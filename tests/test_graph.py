"""Per-layer profiles of ONNX graphs."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from fleetsim.hardware.graph import profile_graph


def _tiny_graph(path):
    """Conv 3->8 (3x3, pad 1) on 1x3x16x16, depthwise 8 (3x3), ReLU, pool, MatMul 8x4."""
    w1 = numpy_helper.from_array(np.ones((8, 3, 3, 3), np.float32), "w1")
    w2 = numpy_helper.from_array(np.ones((8, 1, 3, 3), np.float32), "w2")
    w3 = numpy_helper.from_array(np.ones((8, 4), np.float32), "w3")
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["a"], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["a", "w2"], ["b"], pads=[1, 1, 1, 1], group=8),
        helper.make_node("Relu", ["b"], ["c"]),
        helper.make_node("GlobalAveragePool", ["c"], ["d"]),
        helper.make_node("Flatten", ["d"], ["e"]),
        helper.make_node("MatMul", ["e", "w3"], ["y"]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 16, 16])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])
    graph = helper.make_graph(nodes, "tiny", [x], [y], [w1, w2, w3])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_layer_macs_weights_and_classes_by_hand(tmp_path):
    layers = profile_graph(_tiny_graph(tmp_path / "tiny.onnx"))
    assert [layer.op_class for layer in layers] == [
        "conv", "depthwise_conv", "activation", "pooling", "reshape_concat", "matmul"]
    assert layers[0].macs == 16 * 16 * 8 * 3 * 3 * 3 and layers[0].weights == 8 * 27
    assert layers[1].macs == 16 * 16 * 8 * 9 and layers[1].weights == 72
    assert layers[5].macs == 8 * 4 and layers[5].weights == 32
    assert layers[0].inputs == 3 * 16 * 16 and layers[0].outputs == 8 * 16 * 16
    assert layers[2].macs == 0 and layers[2].inputs == layers[2].outputs == 8 * 16 * 16
