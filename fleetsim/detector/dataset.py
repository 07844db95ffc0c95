"""Labelled frames kept by the fleet: pixels plus ground truth, addressed by sample id."""

from __future__ import annotations

import numpy as np

from fleetsim.world import FrameBatch


class SampleArchive:
    """Append-only store of selected frames; ``frames(ids)`` gives them back as one FrameBatch."""

    def __init__(self) -> None:
        self._samples: list[FrameBatch] = []  # one frame each, pixels copied out of the render buffer

    def __len__(self) -> int:
        return len(self._samples)

    def add(self, frames: FrameBatch, rows: np.ndarray) -> np.ndarray:
        """Keep frames ``rows`` of ``frames``; return their new sample ids."""
        first = len(self._samples)
        for row in rows:
            one = frames.subset(np.array([row]))
            self._samples.append(FrameBatch(np.ascontiguousarray(one.images), *(
                getattr(one, f) for f in ("frame", "cls", "box", "visible", "novel", "conditions"))))
        return np.arange(first, first + len(rows))

    def frames(self, ids: np.ndarray) -> FrameBatch:
        if len(ids) == 0:
            raise ValueError("no sample ids given")
        return FrameBatch.concat([self._samples[i] for i in ids])
