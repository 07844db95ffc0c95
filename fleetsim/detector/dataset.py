"""Labelled frames: the data sets rendered for training and evaluation, and the samples the fleet
keeps (pixels plus ground truth, addressed by sample id)."""

from __future__ import annotations

import numpy as np

from fleetsim.rng import GOLDEN, component_key, stream
from fleetsim.world import AnnotatedFrames, Conditions, render


def clear_day(n: int, seed: int) -> Conditions:
    """Training conditions of the shipped baseline: clear weather, full daylight, light noise/blur."""
    rng = stream(seed, "clear_day")
    c = Conditions.uniform(n)
    noise, blur = rng.uniform(0.0, 0.15, n), rng.uniform(0.0, 0.2, n)
    return Conditions(rng.uniform(0.7, 1.0, n).astype(np.float32), c.weather, c.intensity, c.novelty,
                      noise.astype(np.float32), blur.astype(np.float32))


def frame_keys(n: int, seed: int, purpose: str) -> np.ndarray:
    """``n`` frame keys for a data set; different purposes never share frames."""
    base = component_key(seed, "dataset", purpose)
    return (base + np.arange(n, dtype=np.uint64) * GOLDEN).astype(np.uint64)


def render_dataset(n: int, seed: int, conditions: Conditions, purpose: str = "train",
                   size: tuple[int, int] = (96, 96)) -> AnnotatedFrames:
    with np.errstate(over="ignore"):
        keys = frame_keys(n, seed, purpose)
    return render(keys, conditions, size=size)


class SampleArchive:
    """Frames kept as samples, from selection until they leave the vehicle.

    ``add`` keeps frames and gives their sample ids; ``frames(ids)`` gives them back as one
    AnnotatedFrames; ``release(ids)`` forgets samples that left (uploaded or evicted), so a long
    run holds only the pixels still waiting on vehicles. Ids are never reused.
    """

    def __init__(self) -> None:
        self._samples: list[AnnotatedFrames | None] = []  # one frame each; None once released

    def __len__(self) -> int:
        return len(self._samples)

    @property
    def held(self) -> int:
        """Samples whose pixels are still kept."""
        return sum(s is not None for s in self._samples)

    def add(self, frames: AnnotatedFrames, rows: np.ndarray) -> np.ndarray:
        """Keep frames ``rows`` of ``frames``; return their new sample ids."""
        first = len(self._samples)
        for row in rows:
            one = frames.subset(np.array([row]))
            self._samples.append(AnnotatedFrames(np.ascontiguousarray(one.images), *(
                getattr(one, f) for f in ("frame", "cls", "box", "visible", "novel", "conditions"))))
        return np.arange(first, first + len(rows))

    def frames(self, ids: np.ndarray) -> AnnotatedFrames:
        if len(ids) == 0:
            raise ValueError("no sample ids given")
        gone = [int(i) for i in ids if self._samples[i] is None]
        if gone:
            raise ValueError(f"samples {gone[:5]} were released (uploaded or evicted) already")
        return AnnotatedFrames.concat([self._samples[i] for i in ids])

    def take(self, ids: np.ndarray) -> AnnotatedFrames:
        """Samples ``ids``, released as they are handed over (their upload reached the cloud)."""
        frames = self.frames(ids)
        self.release(ids)
        return frames

    def release(self, ids) -> None:
        """Forget samples ``ids``: their pixels are no longer held."""
        for i in ids:
            self._samples[i] = None
