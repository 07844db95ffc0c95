"""Recorded detections: a detection job whose inputs ran before gives the recorded results back.

For learning loops that run a scenario many times (``FleetEnv(detections="recorded")``, or
one ``RecordedDetections`` passed to several ``fleetsim.run(..., detections=...)``). A job's
ground truth and decoded slots are a pure function of its frames' render inputs (each
frame's key, which encodes the run's seed, vehicle, camera and frame counter; its
conditions; the frame size) and of the bytes of the model each frame ran. ``key`` is a
SHA-256 of exactly these; on a key seen before, rendering and ONNX Runtime are skipped.
Pixels are not recorded (a frame's are tens of kilobytes): with recorded detections no
job keeps them, and the few frames selected as samples are rendered again, alone, when
they are selected (a frame's pixels depend on its key and conditions only), so the
labeller and the fine-tune read the same pixels as in a full run. Results are therefore
identical to a full run; the saving is only on repeated jobs: episodes with the same seed
whose frames ran the same models.
"""

from __future__ import annotations

import hashlib
from dataclasses import fields

import numpy as np

from fleetsim.detector.runtime import Slots
from fleetsim.world import Conditions
from fleetsim.world.render import AnnotatedFrames


class RecordedDetections:
    """Detection jobs' results (ground truth without pixels, decoded slots) by input key, shared
    between runs; ``replayed`` and ``detected`` count frames over every run that used it."""

    def __init__(self) -> None:
        self.jobs: dict[str, tuple[AnnotatedFrames, Slots]] = {}
        self.replayed = 0  # frames whose job was found
        self.detected = 0  # frames rendered and run through ONNX Runtime

    @staticmethod
    def key(keys: np.ndarray, conditions: Conditions, size: tuple[int, int], version: np.ndarray,
            model_digests: dict[int, str]) -> str:
        """SHA-256 of everything a job's truth and slots depend on (frame order included)."""
        digest = hashlib.sha256(repr((tuple(size), sorted(model_digests.items()))).encode())
        for array in (keys, version, *(getattr(conditions, f.name) for f in fields(conditions))):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()


def without_pixels(frames: AnnotatedFrames) -> AnnotatedFrames:
    """``frames`` with (n, 0, 0, 3) images: truth and conditions only (pixels are rendered on demand)."""
    return AnnotatedFrames(np.empty((len(frames), 0, 0, 3), np.uint8), frames.frame, frames.cls, frames.box,
                           frames.visible, frames.novel, frames.conditions)
