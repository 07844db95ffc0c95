"""Training targets for the CenterNet heads, and decoding head outputs into boxes.

Both directions are vectorised over all boxes of a batch: no per-box Python loop.
A box is a Gaussian peak on its class heatmap at its centre cell (radius from its
size), plus its width/height (in output cells) and the sub-cell offset of its centre,
both stored at that cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fleetsim.detector.evaluation import Detections
from fleetsim.detector.interface import STRIDE


@dataclass(frozen=True)
class Targets:
    heatmap: np.ndarray  # float32 (B, C, h, w)
    size: np.ndarray  # float32 (B, 2, h, w), valid where mask
    offset: np.ndarray  # float32 (B, 2, h, w), valid where mask
    mask: np.ndarray  # float32 (B, 1, h, w): 1 at box centres


def encode(frame: np.ndarray, cls: np.ndarray, box: np.ndarray, frames: int, classes: int,
           height: int, width: int) -> Targets:
    """Targets for ``frames`` frames of size height x width from ground-truth rows."""
    h, w = height // STRIDE, width // STRIDE
    heatmap = np.zeros((frames, classes, h, w), dtype=np.float32)
    size = np.zeros((frames, 2, h, w), dtype=np.float32)
    offset = np.zeros((frames, 2, h, w), dtype=np.float32)
    mask = np.zeros((frames, 1, h, w), dtype=np.float32)
    if len(frame):
        centre = np.stack([box[:, 0] + box[:, 2], box[:, 1] + box[:, 3]], axis=1) / (2 * STRIDE)
        cell = np.clip(np.floor(centre).astype(np.int64), 0, [w - 1, h - 1])
        extent = np.stack([box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]], axis=1) / STRIDE
        sigma = np.maximum(extent.min(axis=1) / 3.0, 0.5)  # about CenterNet's radius/3
        ys, xs = np.arange(h), np.arange(w)
        gy = np.exp(-((ys[None, :] - cell[:, 1:2]) ** 2) / (2 * sigma[:, None] ** 2))
        gx = np.exp(-((xs[None, :] - cell[:, 0:1]) ** 2) / (2 * sigma[:, None] ** 2))
        peaks = (gy[:, :, None] * gx[:, None, :]).astype(np.float32)
        np.maximum.at(heatmap, (frame, cls), peaks)
        order = np.argsort(extent.prod(axis=1))[::-1]  # small boxes win a shared centre cell
        f, cx, cy = frame[order], cell[order, 0], cell[order, 1]
        size[f, :, cy, cx] = extent[order]
        offset[f, :, cy, cx] = (centre - cell)[order]
        mask[f, 0, cy, cx] = 1.0
    return Targets(heatmap, size, offset, mask)


def decode(heatmap: np.ndarray, size: np.ndarray, offset: np.ndarray, threshold: float = 0.05,
           top_k: int = 32) -> Detections:
    """Peaks of the heatmap (3x3 local maxima above ``threshold``, best ``top_k`` per frame) -> boxes,
    frame by frame, best first (ties by class, then cell): the reference for the decoding that the
    detector graph runs (``graph.with_decoding``)."""
    b, c, h, w = heatmap.shape
    padded = np.pad(heatmap, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-1.0)
    neighbours = np.max(np.stack([padded[:, :, dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)]),
                        axis=0)
    peaks = np.where(heatmap >= neighbours, heatmap, 0.0).reshape(b, -1)
    k = min(top_k, peaks.shape[1])
    best = np.argsort(-peaks, axis=1, kind="stable")[:, :k]
    score = np.take_along_axis(peaks, best, axis=1)
    frame, slot = np.nonzero(score > threshold)
    flat = best[frame, slot]
    cls, cell = flat // (h * w), flat % (h * w)
    cy, cx = cell // w, cell % w
    sw, sh = size[frame, 0, cy, cx], size[frame, 1, cy, cx]
    ox, oy = offset[frame, 0, cy, cx], offset[frame, 1, cy, cx]
    centre_x, centre_y = (cx + ox) * STRIDE, (cy + oy) * STRIDE
    half_w, half_h = np.maximum(sw, 0) * STRIDE / 2, np.maximum(sh, 0) * STRIDE / 2
    boxes = np.stack([centre_x - half_w, centre_y - half_h, centre_x + half_w, centre_y + half_h], axis=1)
    return Detections(frame=frame.astype(np.int64), cls=cls.astype(np.int64),
                      score=score[frame, slot].astype(np.float32), box=boxes.astype(np.float32))
