"""ONNX export (dynamic batch), fp16 conversion and static int8 quantization with ONNX Runtime.

Quantization is QDQ with int8 weights (per channel, or one scale per tensor) and uint8
activations, calibrated on rendered frames. ``reduce_range`` keeps weights to 7 bits: on CPUs without VNNI
(AVX2 only) ONNX Runtime's u8s8 kernels add pairs of products in int16 and can
saturate, which with 8-bit weights showed as heatmap errors of ~0.4 instead of ~0.06.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from fleetsim.detector.interface import INPUT, OPSET, OUTPUTS
from fleetsim.detector.model import CenterNet
from fleetsim.detector.training import to_tensor


def export_onnx(model: CenterNet, path: Path, size: tuple[int, int] = (96, 96)) -> Path:
    """Write ``model`` as fp32 ONNX with a dynamic batch axis."""
    model.eval()
    width, height = size
    batch = {0: "batch"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter needs no onnxscript
        torch.onnx.export(model, torch.zeros(1, 3, height, width), str(path), dynamo=False,
                          input_names=[INPUT], output_names=list(OUTPUTS), opset_version=OPSET,
                          dynamic_axes={name: batch for name in (INPUT, *OUTPUTS)})
    onnx.checker.check_model(str(path))
    return path


class _Frames(CalibrationDataReader):
    def __init__(self, images: np.ndarray, batch: int = 32):
        self._batches = iter([{INPUT: to_tensor(images[i:i + batch])} for i in range(0, len(images), batch)])

    def get_next(self):
        return next(self._batches, None)


def quantize_int8(fp32: Path, int8: Path, calibration_images: np.ndarray, reduce_range: bool = True,
                  per_channel: bool = True) -> Path:
    """Static QDQ int8 quantization of ``fp32`` calibrated on ``calibration_images`` (uint8 NHWC);
    ``per_channel`` False gives each weight tensor one scale."""
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32), str(prepared))  # shape inference and graph clean-up first
        quieter = logging.getLogger()
        level = quieter.level
        quieter.setLevel(logging.ERROR)
        try:
            quantize_static(str(prepared), str(int8), _Frames(calibration_images),
                            quant_format=QuantFormat.QDQ, per_channel=per_channel, reduce_range=reduce_range,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        finally:
            quieter.setLevel(level)
    return int8


def export_int8(model: CenterNet, int8: Path, calibration_images: np.ndarray,
                per_channel: bool = True) -> Path:
    """Export ``model`` and quantize it to ``int8`` in one go (the fp32 graph is not kept)."""
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(model, Path(tmp) / "fp32.onnx")
        return quantize_int8(fp32, int8, calibration_images, per_channel=per_channel)


def convert_fp16(fp32: Path, fp16: Path) -> Path:
    """``fp32`` with fp16 weights and activations (ONNX Runtime's converter), fp32 input and outputs.

    The converter appends its input/output casts at the end of the node list and keeps stale
    fp32 value types; the graph is written in topological order without them, so shape
    inference (and so MAC counting) works on it.
    """
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=True)
    del model.graph.value_info[:]
    pending = list(model.graph.node)
    ready = {v.name for v in model.graph.input} | {t.name for t in model.graph.initializer}
    ordered = []
    while pending:
        node = next(n for n in pending if all(not name or name in ready for name in n.input))
        pending.remove(node)
        ordered.append(node)
        ready.update(node.output)
    del model.graph.node[:]
    model.graph.node.extend(ordered)
    onnx.checker.check_model(model)
    onnx.save(model, str(fp16))
    return fp16
