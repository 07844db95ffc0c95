"""Time, on this machine, the numpy work a Python detector script does around each inference.

Published pipeline timings of YOLOX-style detectors (Idein's ``aicast_jetson_benchmark``: "all
latency ... measured by a python script", its Jetson demo's ``preproc``, ``demo_postprocess`` and
``multiclass_nms``) pre- and post-process every frame in numpy on the host CPU, one thread. This
module runs the same steps on synthetic data and reports the median seconds per frame:

- pre-processing: a camera frame resized (bilinear, by PIL, as OpenCV's ``INTER_LINEAR`` in the
  script) into a letterbox canvas of float64 filled with 114, the channels reversed (BGR to RGB),
  HWC to CHW, copied out contiguous as float32;
- post-processing: the head's raw output (one row per anchor point of strides 8, 16 and 32:
  4 box codes, objectness, the class scores) decoded on its grid (centre offset plus grid cell,
  width and height by ``exp``, times the stride), scores = objectness x class score, then a
  class-aware NMS that keeps the boxes of each class above the score threshold and suppresses
  overlaps in a Python loop.

The figure it prints is the prior of :data:`fleetsim.hardware.fit.PRIOR_NUMPY_HARNESS` (seconds per
element of the network input on this machine's core); it times nothing on the simulation's path.

    python -m fleetsim.tools.harness [--input 640] [--repeats 50]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

CAMERA = (576, 768)
"""Height, width of the frame the script reads (the demo's dog.jpg is 768 x 576)."""
CLASSES = 80
STRIDES = (8, 16, 32)
SCORE_THRESHOLD = 0.4
NMS_THRESHOLD = 0.45
OBJECTS = 3
"""Objects in the synthetic frame; each gives a small cluster of candidate boxes above the threshold."""


def preprocess(frame: np.ndarray, size: int) -> np.ndarray:
    """The letterboxed, channel-reversed, CHW float32 network input of ``frame`` (HWC uint8)."""
    from PIL import Image

    ratio = min(size / frame.shape[0], size / frame.shape[1])
    height, width = int(frame.shape[0] * ratio), int(frame.shape[1] * ratio)
    resized = np.asarray(Image.fromarray(frame).resize((width, height), Image.BILINEAR))
    canvas = np.ones((size, size, 3)) * 114.0
    canvas[:height, :width] = resized
    canvas = canvas[:, :, ::-1].transpose(2, 0, 1)
    return np.ascontiguousarray(canvas, dtype=np.float32)


def head_output(size: int, rng: np.random.Generator) -> np.ndarray:
    """A raw head output (anchors x (4 + 1 + classes)) with ``OBJECTS`` clusters of confident boxes."""
    anchors = sum((size // s) ** 2 for s in STRIDES)
    out = rng.normal(0.0, 0.5, (anchors, 5 + CLASSES)).astype(np.float32)
    out[:, 4:] = 1 / (1 + np.exp(-(out[:, 4:] - 4.0)))  # scores well below the threshold
    for obj in range(OBJECTS):
        rows = rng.choice(anchors, 12, replace=False)
        out[rows, 4] = 0.9
        out[rows, 5 + obj] = 0.9
    return out


def postprocess(raw: np.ndarray, size: int) -> list[np.ndarray]:
    """Boxes kept per class: grid decode, score threshold, class-aware NMS."""
    grids, strides = [], []
    for s in STRIDES:
        n = size // s
        ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        grids.append(np.stack((xs, ys), 2).reshape(-1, 2))
        strides.append(np.full((n * n, 1), s))
    grid, stride = np.concatenate(grids), np.concatenate(strides)
    out = raw.copy()
    out[:, :2] = (out[:, :2] + grid) * stride
    out[:, 2:4] = np.exp(out[:, 2:4]) * stride
    boxes = np.empty((len(out), 4), dtype=np.float32)
    boxes[:, :2] = out[:, :2] - out[:, 2:4] / 2
    boxes[:, 2:] = out[:, :2] + out[:, 2:4] / 2
    scores = out[:, 4:5] * out[:, 5:]
    kept = []
    for cls in range(CLASSES):
        mask = scores[:, cls] > SCORE_THRESHOLD
        if mask.any():
            kept.append(_nms(boxes[mask], scores[mask, cls]))
    return kept


def _nms(boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        overlap = w * h / (areas[i] + areas[rest] - w * h)
        order = rest[overlap <= NMS_THRESHOLD]
    return boxes[keep]


def harness_s(size: int = 640, repeats: int = 50) -> tuple[float, float]:
    """Median seconds per frame of the pre- and the post-processing (one warm-up run dropped)."""
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (*CAMERA, 3), dtype=np.uint8)
    raw = head_output(size, rng)
    pre, post = [], []
    for _ in range(repeats + 1):
        start = time.process_time()
        preprocess(frame, size)
        middle = time.process_time()
        postprocess(raw, size)
        pre.append(middle - start)
        post.append(time.process_time() - middle)
    return float(np.median(pre[1:])), float(np.median(post[1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=int, default=640, help="network input side, pixels")
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    pre, post = harness_s(args.input, args.repeats)
    elements = 3 * args.input ** 2
    print(f"pre-processing {pre * 1e3:.2f} ms, post-processing {post * 1e3:.2f} ms per frame "
          f"(CPU time, one thread); {(pre + post) / elements * 1e9:.2f} ns per input element")


if __name__ == "__main__":
    main()
