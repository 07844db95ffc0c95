"""Labelled frames kept by the fleet: pixels plus ground truth, addressed by sample id."""

from __future__ import annotations

import numpy as np

from fleetsim.world import Conditions, FrameBatch


class SampleArchive:
    """Append-only store of selected frames; ``frames(ids)`` gives them back as a FrameBatch."""

    def __init__(self) -> None:
        self._images: list[np.ndarray] = []
        self._truth: list[tuple[np.ndarray, np.ndarray]] = []  # (cls, box) per sample
        self._conditions: list[Conditions] = []

    def __len__(self) -> int:
        return len(self._images)

    def add(self, frames: FrameBatch, rows: np.ndarray) -> np.ndarray:
        """Keep frames ``rows`` of ``frames``; return their new sample ids."""
        first = len(self._images)
        for row in rows:
            objects = frames.frame == row
            self._images.append(np.ascontiguousarray(frames.images[row]))
            self._truth.append((frames.cls[objects], frames.box[objects]))
        self._conditions.append(frames.conditions.take(rows))
        return np.arange(first, first + len(rows))

    def frames(self, ids: np.ndarray) -> FrameBatch:
        ids = np.asarray(ids, dtype=np.int64)
        counts = [len(self._truth[i][0]) for i in ids]
        conditions = Conditions.concat(self._conditions) if self._conditions else Conditions.uniform(0)
        return FrameBatch(
            images=np.stack([self._images[i] for i in ids]) if len(ids) else np.zeros((0, 1, 1, 3), np.uint8),
            frame=np.repeat(np.arange(len(ids)), counts),
            cls=np.concatenate([self._truth[i][0] for i in ids] or [np.zeros(0, np.int64)]),
            box=np.concatenate([self._truth[i][1] for i in ids] or [np.zeros((0, 4), np.float32)]),
            visible=np.ones(sum(counts), np.float32), novel=np.zeros(sum(counts), bool),
            conditions=conditions.take(ids))
