"""Recorded fine-tunes: a job whose inputs were trained before gives the recorded model back.

For learning loops that run a scenario many times (``FleetEnv(fine_tunes="recorded")``).
A fine-tune is a pure function of its inputs: the run's seed, the job number (its replay
frames and torch seed), the epochs and fine-tune settings, the weights it starts from, the
model it has to beat and its samples (pixels and labels). ``RecordedFineTuner`` keys each
job by a SHA-256 of exactly these; on a key seen before it writes the recorded variants' files,
takes the recorded weights and scores, and skips torch training, export and validation.
Results are therefore identical to a full run (the ``model_versions`` table's
``host_wall_s`` aside); the saving is only on repeated inputs: episodes with the same seed
whose decisions agree up to that job. Detection has its own record
(``fleetsim.edge.recorded``, ``FleetEnv(detections="recorded")``).
"""

from __future__ import annotations

import copy
import hashlib
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from fleetsim.cloud.finetune import FineTuned, FineTuner
from fleetsim.world import AnnotatedFrames


@dataclass(frozen=True)
class Recording:
    """What one fine-tune produced: each variant's file's bytes, the trained weights, its result."""

    onnx: dict[str, bytes]
    model: tuple | None  # if it passed: the baseline's and the own-weights variants' trained torch modules
    result: FineTuned
    mean_map50: float  # held-out mAP over conditions and variants, deployed from then on if it passed


class RecordedFineTuner(FineTuner):
    """A ``FineTuner`` that replays ``records`` (shared between runs) and adds what it trains."""

    def __init__(self, *args, records: dict[str, Recording], **kwargs):
        super().__init__(*args, **kwargs)
        self.records = records
        self.replayed = 0

    def _fine_tune(self, job_id: int, new: AnnotatedFrames, epochs: int) -> FineTuned:
        started = time.perf_counter()
        key = self._key(job_id, new, epochs)
        record = self.records.get(key)
        if record is None:
            tuned = super()._fine_tune(job_id, new, epochs)
            trained = self._deployed()[:2] if tuned.passed else None  # kept only if it passed
            self.records[key] = Recording({v: p.read_bytes() for v, p in tuned.paths.items()}, trained, tuned,
                                          self.deployed_map50)
            return tuned
        self.replayed += 1
        paths = {v: Path(self.workdir.name) / f"v{job_id}_{v}.onnx" for v in record.onnx}
        for variant, path in paths.items():
            path.write_bytes(record.onnx[variant])
        result = record.result
        if result.passed:
            self._before[job_id] = self._deployed()
            self._deploy(*copy.deepcopy(record.model), job_id, record.mean_map50)
        return replace(result, paths=paths, host_wall_s=time.perf_counter() - started)

    def _key(self, job_id: int, frames: AnnotatedFrames, epochs: int) -> str:
        """SHA-256 of everything the fine-tune's result depends on."""
        digest = hashlib.sha256(repr((self.seed, job_id, epochs, self.last_job, self.deployed_map50,
                                      self.variants, self.settings.model_dump(mode="json"))).encode())
        for model in (self.model, *self.own_models.values()):
            for tensor in model.state_dict().values():
                digest.update(tensor.detach().cpu().numpy().tobytes())
        for array in (frames.images, frames.frame, frames.cls, frames.box, frames.visible, frames.novel):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()
