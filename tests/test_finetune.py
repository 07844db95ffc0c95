"""Training jobs really fine-tune the detector: weights change, int8 re-exported, scored."""

from __future__ import annotations

import numpy as np
import torch

from fleetsim.cloud.finetune import FineTuner
from fleetsim.detector.baseline import EVAL_CONDITIONS, baseline_path
from fleetsim.detector.dataset import SampleArchive
from fleetsim.detector.runtime import OnnxDetector
from fleetsim.detector.training import render_dataset
from fleetsim.scenario.models import FineTune
from fleetsim.world import Conditions


def _archive(n: int) -> SampleArchive:
    frames = render_dataset(n, 11, Conditions.uniform(n, daylight=0.05), purpose="fleet_night")
    archive = SampleArchive()
    archive.add(frames, np.arange(n))
    return archive


def test_a_job_changes_the_weights_and_ships_a_scored_int8_model():
    tuner = FineTuner(FineTune(replay=0.5, validation_frames=16), _archive(24), seed=3, threads=1,
                      batch_size=16)
    before = {k: v.clone() for k, v in tuner.model.state_dict().items()}
    tuned = tuner.fine_tune(1, list(range(24)), epochs=1)
    after = tuner.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert tuned.samples == 24 and tuned.replay == 12 and tuned.parent_job == 0
    assert tuned.path.is_file() and tuned.size_bytes == tuned.path.stat().st_size
    assert set(tuned.map50) == set(EVAL_CONDITIONS)
    images = render_dataset(4, 5, Conditions.uniform(4), purpose="probe").images
    new, old = OnnxDetector(tuned.path).heads(images)[0], OnnxDetector(baseline_path("int8")).heads(images)[0]
    assert not np.array_equal(new, old)
    second = tuner.fine_tune(2, list(range(24)), epochs=1)
    assert second.parent_job == 1


def test_the_same_job_gives_the_same_model():
    a = FineTuner(FineTune(replay=0.0, validation_frames=8), _archive(16), seed=4, threads=1, batch_size=8)
    b = FineTuner(FineTune(replay=0.0, validation_frames=8), _archive(16), seed=4, threads=2, batch_size=4)
    ra, rb = a.fine_tune(1, list(range(16)), 1), b.fine_tune(1, list(range(16)), 1)
    assert ra.path.read_bytes() == rb.path.read_bytes()
    assert ra.map50 == rb.map50
