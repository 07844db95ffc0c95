"""Batched detection with ONNX Runtime: one session call per batch of frames.

The session runs the model with its pre-processing and decoding appended (``graph``), so a
call takes uint8 frames and gives each frame's best ``TOP_K`` boxes, scored and classed.

>>> detector = OnnxDetector(baseline_path("int8"), threads=2)   # doctest: +SKIP
>>> found = detector.detect(frames.images)                      # doctest: +SKIP
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from fleetsim.detector.evaluation import Detections
from fleetsim.detector.graph import DETECTIONS, IMAGES, with_decoding
from fleetsim.detector.interface import OUTPUTS

Slots = tuple[np.ndarray, np.ndarray, np.ndarray]
"""Per frame, its ``TOP_K`` best cells: score (B, K), class (B, K) and box (B, K, 4), best first."""


def model_precision(path: Path | str) -> str:
    """'int8' for a quantized (QDQ or integer-op) graph, 'fp16' for one with half-precision weights,
    else 'fp32'."""
    graph = onnx.load(str(path)).graph
    if {node.op_type for node in graph.node} & {"QuantizeLinear", "QLinearConv", "ConvInteger"}:
        return "int8"
    return "fp16" if any(t.data_type == onnx.TensorProto.FLOAT16 for t in graph.initializer) else "fp32"


class OnnxDetector:
    """An ONNX detector model, with decoding appended, loaded into one ONNX Runtime CPU session."""

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
        self.options = options
        self.session = self._session(keep_heads=False)

    @cached_property
    def _with_heads(self) -> ort.InferenceSession:
        """A session whose graph gives the head maps too (for ``heads``; detection does without them)."""
        return self._session(keep_heads=True)

    def _session(self, keep_heads: bool) -> ort.InferenceSession:
        graph = with_decoding(onnx.load(str(self.path)), keep_heads=keep_heads).SerializeToString()
        # Left on, QDQ propagation would move the heatmap's DequantizeLinear after the appended MaxPool,
        # whose uint8 kernel is a hundred times slower than the float one (the results are the same).
        return ort.InferenceSession(graph, self.options, providers=["CPUExecutionProvider"],
                                    disabled_optimizers=["QDQPropagationTransformer"])

    def _run(self, session: ort.InferenceSession, outputs: tuple[str, ...],
             images: np.ndarray) -> tuple[np.ndarray, ...]:
        parts = [session.run(list(outputs), {IMAGES: images[i:i + self.batch_size]})
                 for i in range(0, len(images), self.batch_size)]
        if len(parts) == 1:
            return tuple(parts[0])
        return tuple(np.concatenate([p[k] for p in parts]) for k in range(len(outputs)))

    def heads(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw head outputs for uint8 (B, H, W, 3) frames, run ``batch_size`` frames per call."""
        return self._run(self._with_heads, OUTPUTS, images)

    def slots(self, images: np.ndarray) -> Slots:
        """Each frame's best cells, decoded (``batch_size`` frames per call)."""
        return self._run(self.session, DETECTIONS, images)

    def detect(self, images: np.ndarray, threshold: float = 0.05) -> Detections:
        """Boxes found in each frame (``Detections.frame`` indexes ``images``)."""
        if len(images) == 0:
            return Detections.concat([])
        return above(self.slots(images), threshold)


def above(slots: Slots, threshold: float = 0.05) -> Detections:
    """The slots scoring above ``threshold`` as boxes, frame by frame, best first in each frame."""
    score, cls, box = slots
    frame, slot = np.nonzero(score > threshold)
    return Detections(frame=frame, cls=cls[frame, slot], score=score[frame, slot], box=box[frame, slot])
