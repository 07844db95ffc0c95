"""The labelling teacher: a wider fp32 CenterNet trained on every world condition.

The cloud's ``teacher`` labelling stage runs it on uploaded samples and keeps its
detections as pseudo-labels. It is the baseline architecture with wider blocks, trained by
:func:`fleetsim.detector.training.train` on rendered frames drawn across daylight, weather,
novelty, noise and blur (its own frame keys, disjoint from every evaluation set), and scored
per condition like the baseline. Rebuild it with::

    python -m fleetsim.detector.teacher
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnxruntime
import torch

from fleetsim.detector.baseline import CARD, EVAL_CONDITIONS, evaluate, read_card
from fleetsim.detector.build import Report
from fleetsim.detector.dataset import render_dataset
from fleetsim.detector.export import export_onnx
from fleetsim.detector.profile import profile
from fleetsim.detector.runtime import OnnxDetector
from fleetsim.detector.training import TrainingSettings, initial_model, train
from fleetsim.detector.variants import TEACHER_DIR, teacher_path
from fleetsim.rng import stream
from fleetsim.world import Conditions
from fleetsim.world.conditions import WEATHERS


@dataclass(frozen=True)
class TeacherSettings:
    seed: int = 11
    widths: tuple[int, ...] = (24, 48, 96, 96, 96, 96)
    train_frames: int = 3000
    training: TrainingSettings = TrainingSettings(epochs=10)
    novel_share: float = 0.3  # frames with novel-looking objects
    eval_frames: int = 400  # per condition, as the baseline's model card


def mixed_conditions(n: int, seed: int, novel_share: float) -> Conditions:
    """Training conditions of the teacher: any daylight, any weather, some novelty, light noise/blur."""
    rng = stream(seed, "teacher_conditions")
    weather = rng.integers(0, len(WEATHERS), n).astype(np.int8)
    intensity = np.where(weather > 0, rng.uniform(0.2, 0.9, n), 0.0)
    novelty = np.where(rng.random(n) < novel_share, rng.uniform(0.3, 0.9, n), 0.0)
    f32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
    return Conditions(f32(rng.uniform(0.02, 1.0, n)), weather, f32(intensity), f32(novelty),
                      f32(rng.uniform(0.0, 0.15, n)), f32(rng.uniform(0.0, 0.2, n)))


def build_teacher(out: Path = TEACHER_DIR, settings: TeacherSettings = TeacherSettings(),
                  report: Report = print) -> dict:
    """Train the teacher, write its fp32 ONNX graph and ``model_card.json`` into ``out``; return the card."""
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    n = settings.train_frames
    frames = render_dataset(n, settings.seed, mixed_conditions(n, settings.seed, settings.novel_share),
                            purpose="teacher")
    report(f"training the teacher {settings.widths} on {n} mixed-condition frames "
           f"({frames.frame.size} objects)")
    model = train(initial_model(settings.seed, settings.widths), frames, settings.seed, settings.training,
                  on_epoch=lambda e, loss: report(f"  epoch {e + 1}: loss {loss:.3f}"))
    path = export_onnx(model, teacher_path(out))
    report("evaluating the teacher")
    scores = evaluate(OnnxDetector(path), settings.eval_frames)
    baseline = read_card()["variants"]["int8"]["map50"]
    card = {
        "name": "fleetsim labelling teacher (wide CenterNet, fp32)",
        "file": path.name,
        **asdict(profile(path)),
        "widths": list(model.widths),
        "training": {"conditions": "daylight 0.02-1.0, weather uniform over clear/rain/fog/snow (intensity "
                     f"0.2-0.9), novelty 0.3-0.9 on {settings.novel_share:.0%} of frames, noise 0-0.15, "
                     "blur 0-0.2", "frames": n, "seed": settings.seed, **asdict(settings.training)},
        "map50": {c: round(s["map50"], 4) for c, s in scores.items()},
        "baseline_int8_map50": {c: round(baseline[c]["map50"], 4) for c in EVAL_CONDITIONS},
        "ap50": {c: s["ap50"] for c, s in scores.items()},
        "evaluation": {"frames_per_condition": settings.eval_frames, "conditions": EVAL_CONDITIONS},
        "build_wall_s": round(time.perf_counter() - started, 1),
        "built_with": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
                       "machine": platform.machine()},
    }
    (out / CARD).write_text(json.dumps(card, indent=2) + "\n")
    return card


if __name__ == "__main__":
    build_teacher()
