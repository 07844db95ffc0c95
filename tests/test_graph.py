"""Per-layer profiles of ONNX graphs."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from fleetsim.errors import FleetsimError
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


def _attention_graph(path, q_shape, v_shape):
    """Scores q x q^T, then scores x v (v broadcast over heads when it has fewer dimensions)."""
    nodes = [helper.make_node("Transpose", ["q"], ["k"], perm=[0, 1, 3, 2]),
             helper.make_node("MatMul", ["q", "k"], ["s"]),
             helper.make_node("MatMul", ["s", "v"], ["y"])]
    inputs = [helper.make_tensor_value_info("q", TensorProto.FLOAT, q_shape),
              helper.make_tensor_value_info("v", TensorProto.FLOAT, v_shape)]
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    onnx.save(helper.make_model(helper.make_graph(nodes, "attention", inputs, [y]),
                                opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_a_matmul_of_two_activations_counts_its_inner_dimension(tmp_path):
    """(1, 2, 50, 16) x (1, 2, 16, 50) -> (1, 2, 50, 50), 16 MACs per output; then x (50, 8), broadcast
    over batch and heads -> (1, 2, 50, 8), 50 MACs per output."""
    scores, mixed = profile_graph(_attention_graph(tmp_path / "a.onnx", [1, 2, 50, 16], [50, 8]))[-2:]
    assert scores.op_class == mixed.op_class == "matmul" and scores.weights == mixed.weights == 0
    assert scores.macs == 2 * 50 * 50 * 16 and scores.inputs == 2 * 2 * 50 * 16
    assert mixed.macs == 2 * 50 * 8 * 50


def test_a_matmul_of_two_activations_of_unknown_shape_is_refused(tmp_path):
    path = _attention_graph(tmp_path / "a.onnx", [1, 2, "tokens", "width"], [50, 8])
    with pytest.raises(FleetsimError, match="MACs cannot be counted"):
        profile_graph(path)
