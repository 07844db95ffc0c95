"""Batched detection with ONNX Runtime: one session call per batch of frames.

>>> detector = OnnxDetector(baseline_path("int8"), threads=2)   # doctest: +SKIP
>>> found = detector.detect(frames.images)                      # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from fleetsim.detector.evaluation import Detections
from fleetsim.detector.export import INPUT, OUTPUTS
from fleetsim.detector.targets import decode
from fleetsim.detector.training import to_tensor


def model_precision(path: Path | str) -> str:
    """'int8' for a quantized (QDQ or integer-op) graph, else 'fp32'."""
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    return "int8" if ops & {"QuantizeLinear", "QLinearConv", "ConvInteger"} else "fp32"


class OnnxDetector:
    """An ONNX detector model loaded into one ONNX Runtime CPU session."""

    def __init__(self, path: Path | str, threads: int = 2, batch_size: int = 256):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        # The arena would keep each session's largest batch of activations for the session's life;
        # a long run holds one session per model version it released.
        options.enable_cpu_mem_arena = False
        self.path = Path(path)
        self.batch_size = batch_size
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def heads(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw head outputs for uint8 (B, H, W, 3) frames, run ``batch_size`` frames per call."""
        parts = [self.session.run(list(OUTPUTS), {INPUT: to_tensor(images[i:i + self.batch_size])})
                 for i in range(0, len(images), self.batch_size)]
        return tuple(np.concatenate([p[k] for p in parts]) for k in range(len(OUTPUTS)))

    def detect(self, images: np.ndarray, threshold: float = 0.05) -> Detections:
        """Boxes found in each frame (``Detections.frame`` indexes ``images``)."""
        if len(images) == 0:
            return Detections.concat([])
        return decode(*self.heads(images), threshold=threshold)
