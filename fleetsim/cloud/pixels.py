"""The cloud's copy of uploaded samples' pixels, in a file rather than in memory."""

from __future__ import annotations

import os
import tempfile

import numpy as np


class PixelFile:
    """uint8 frames of one shape, appended to a temporary file and read back by row.

    A day's fleet uploads thousands of samples and a training job reads a few hundred of
    them; keeping the rest on disk bounds a long run's memory. The file is removed when the
    object is garbage-collected or the process ends.
    """

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="fleetsim_samples_")  # noqa: SIM115 (lives with self)
        self.shape: tuple[int, ...] | None = None
        self.rows = 0

    def append(self, images: np.ndarray) -> np.ndarray:
        """Write ``images`` (B, H, W, C) after the others; return their row numbers."""
        if self.shape is None:
            self.shape = images.shape[1:]
        elif images.shape[1:] != self.shape:
            raise ValueError(f"frames of shape {images.shape[1:]} cannot join a file of {self.shape} frames")
        os.pwrite(self._file.fileno(), np.ascontiguousarray(images, dtype=np.uint8).tobytes(),
                  self.rows * self._frame_bytes)
        first, self.rows = self.rows, self.rows + len(images)
        return np.arange(first, self.rows)

    def read(self, rows) -> np.ndarray:
        """Frames ``rows``, in that order, as one (len(rows), H, W, C) array."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.shape is None or np.any((rows < 0) | (rows >= self.rows)):
            raise IndexError(f"rows must lie in [0, {self.rows})")
        size = self._frame_bytes
        data = b"".join(os.pread(self._file.fileno(), size, int(r) * size) for r in rows)
        return np.frombuffer(data, dtype=np.uint8).reshape(len(rows), *self.shape).copy()

    @property
    def _frame_bytes(self) -> int:
        return int(np.prod(self.shape))
