"""A run's matched detections and true objects, kept in a temporary file rather than in memory."""

from __future__ import annotations

import os
import tempfile
import weakref
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from fleetsim.detector.evaluation import ClassRows, Matched, Objects, class_rows

SPILL_BYTES = 1 << 20
"""Bytes of matched rows held in memory before they are written out together (1 MiB, about 100 k
detections: a long run spills many times, a short one a few)."""


class MatchedFile:
    """Matched detections and true objects of a run's parts (row after row, frame indices kept),
    appended as they are found and read back class by class (for ``Ranking``) or by frame.

    A day's fleet matches millions of boxes above the score floor, and mAP needs every one of them
    once the run is over; only the rows of the last ``spill_bytes`` stay in memory. The file has no
    name (it is unlinked as it is made, in the temporary directory), so nothing is left behind
    however the run ends, and ``close`` (or the object's collection, or the process ending) frees its
    space. A chunk written holds, per class, its detections' frames, scores and hits and its
    objects' frames, in row order: read back, a chunk's rows come grouped by class, which is all
    mAP needs of their order.
    """

    def __init__(self, n_classes: int, spill_bytes: int | None = None):
        self.n_classes = n_classes
        self.spill_bytes = SPILL_BYTES if spill_bytes is None else spill_bytes
        self.spilled_bytes = 0
        self._file = None  # made at the first chunk written
        self._chunks: list[_Chunk] = []
        self._found: list[Matched] = []  # the rows held in memory, after the chunks'
        self._objects: list[Objects] = []

    def append(self, found: Matched, objects: Objects) -> None:
        """Add a part's rows after the others."""
        for rows in (found, objects):
            if len(rows.cls) and not 0 <= rows.cls.min() <= rows.cls.max() < self.n_classes:
                raise ValueError(f"class ids must lie in [0, {self.n_classes})")
        self._found.append(found)
        self._objects.append(objects)
        if self.held_bytes >= self.spill_bytes:
            self._spill()

    @property
    def held_bytes(self) -> int:
        """Bytes of the rows held in memory."""
        return sum(a.nbytes for p in (*self._found, *self._objects) for a in vars(p).values())

    def by_class(self) -> Iterator[ClassRows]:
        """Every row so far, one class at a time, each class's in row order (read when it is asked for)."""
        for c, held in enumerate(class_rows(self._found, self._objects, self.n_classes)):
            yield ClassRows(*(self._column(c, name, part) for name, part in zip(ClassRows._fields, held,
                                                                               strict=True)))

    def rows(self, frames: np.ndarray) -> tuple[Matched, Objects]:
        """The rows of the frames where ``frames`` (a boolean per frame so far) holds."""
        found, objects = [], []
        for chunk in self._chunks:
            if frames[chunk.first:chunk.end].any():
                part, truth = self._read_chunk(chunk)
                found.append(part.take(frames[part.frame]))
                objects.append(truth.take(frames[truth.frame]))
        for part, truth in zip(self._found, self._objects, strict=True):
            found.append(part.take(frames[part.frame]))
            objects.append(truth.take(frames[truth.frame]))
        return Matched.concat(found), Objects.concat(objects)

    def close(self) -> None:
        """Let go of every row and free the file's space."""
        if self._file is not None:
            self._closes()
        self._file, self.spilled_bytes, self._chunks, self._found, self._objects = None, 0, [], [], []

    def _spill(self) -> None:
        """Write the rows held in memory as one chunk, class by class."""
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="fleetsim_matched_")  # noqa: SIM115 (lives with self)
            self._closes = weakref.finalize(self, self._file.close)  # closed, not left to the collector
        frames = [p.frame for p in (*self._found, *self._objects) if len(p.frame)]
        chunk = _Chunk(min((int(f.min()) for f in frames), default=0),
                       max((int(f.max()) + 1 for f in frames), default=0), [])
        blocks, offset = [], self.spilled_bytes
        for rows in class_rows(self._found, self._objects, self.n_classes):
            chunk.blocks.append([])
            for column in rows:
                chunk.blocks[-1].append((offset, len(column)))
                blocks.append(column)
                offset += column.nbytes
        size = offset - self.spilled_bytes
        if os.pwritev(self._file.fileno(), blocks, self.spilled_bytes) != size:
            raise OSError(f"could not write {size} bytes of matched detections to a temporary file")
        self._chunks.append(chunk)
        self.spilled_bytes = offset
        self._found, self._objects = [], []

    def _column(self, c: int, name: str, held: np.ndarray) -> np.ndarray:
        """Column ``name`` (of ``ClassRows``) of class ``c``: every chunk's, then ``held``, in one array."""
        k = ClassRows._fields.index(name)
        where = [chunk.blocks[c][k] for chunk in self._chunks]
        out = np.empty(sum(n for _, n in where) + len(held), dtype=held.dtype)
        start = 0
        for offset, n in where:
            self._read_into(out[start:start + n], offset)
            start += n
        out[start:] = held
        return out

    def _read_chunk(self, chunk: _Chunk) -> tuple[Matched, Objects]:
        """A chunk's rows, grouped by class."""
        columns = [[] for _ in ClassRows._fields]
        for blocks in chunk.blocks:
            for k, ((offset, n), dtype) in enumerate(zip(blocks, _DTYPES, strict=True)):
                columns[k].append(self._read_into(np.empty(n, dtype), offset))
        frame, score, is_tp, truth_frame = (np.concatenate(parts) for parts in columns)
        classes = np.arange(self.n_classes)
        return (Matched(frame, np.repeat(classes, [b[0][1] for b in chunk.blocks]), score, is_tp),
                Objects(truth_frame, np.repeat(classes, [b[3][1] for b in chunk.blocks])))

    def _read_into(self, out: np.ndarray, offset: int) -> np.ndarray:
        if os.preadv(self._file.fileno(), [out.view(np.uint8)], offset) != out.nbytes:
            raise OSError(f"could not read {out.nbytes} bytes of matched detections from their file")
        return out


_DTYPES = (np.int32, np.float32, np.bool_, np.int32)
"""The dtypes of ``ClassRows``' columns: a detection's frame, score and hit, an object's frame."""


@dataclass
class _Chunk:
    """Rows written together: the frames they belong to, [first, end), and where each class's columns
    lie in the file: ``blocks[class][column]`` is (offset, rows)."""

    first: int
    end: int
    blocks: list[list[tuple[int, int]]]
