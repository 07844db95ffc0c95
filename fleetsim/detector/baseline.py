"""The shipped baseline detector: where its files live and how it is evaluated.

Evaluation sets are rendered, not downloaded: ``EVAL_CONDITIONS`` names each world
condition the model card reports, and every set uses its own frame keys, disjoint from
the training frames.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fleetsim.detector.dataset import render_dataset
from fleetsim.detector.evaluation import GroundTruth, map50
from fleetsim.detector.runtime import OnnxDetector
from fleetsim.world import AnnotatedFrames, Conditions
from fleetsim.world.scene import CLASSES

BASELINE_DIR = Path(__file__).parent / "baseline"
VARIANTS = {"fp32": "baseline_fp32.onnx", "int8": "baseline_int8.onnx",
            "pruned_int8": "baseline_pruned_int8.onnx"}
WEIGHTS = "baseline.pt"
CARD = "model_card.json"
EVAL_SEED = 7
EVAL_CONDITIONS = {
    "day_clear": dict(daylight=0.9),
    "dusk_clear": dict(daylight=0.35),
    "night_clear": dict(daylight=0.03),
    "day_rain": dict(daylight=0.9, weather="rain", intensity=0.7),
    "day_fog": dict(daylight=0.9, weather="fog", intensity=0.7),
    "day_snow": dict(daylight=0.9, weather="snow", intensity=0.7),
    "day_clear_novel": dict(daylight=0.9, novelty=0.7),
}


def baseline_path(variant: str = "int8", directory: Path = BASELINE_DIR) -> Path:
    if variant not in VARIANTS:
        raise ValueError(f"unknown detector variant {variant!r}; allowed: {', '.join(VARIANTS)}")
    return directory / VARIANTS[variant]


def read_card(directory: Path = BASELINE_DIR) -> dict:
    return json.loads((directory / CARD).read_text())


def eval_set(condition: str, frames: int, size: tuple[int, int] = (96, 96)) -> AnnotatedFrames:
    """The evaluation frames of one named condition."""
    return render_dataset(frames, EVAL_SEED, Conditions.uniform(frames, **EVAL_CONDITIONS[condition]),
                          purpose=f"eval_{condition}", size=size)


def evaluate(detector: OnnxDetector, frames_per_condition: int = 400,
             conditions: tuple[str, ...] = tuple(EVAL_CONDITIONS)) -> dict[str, dict]:
    """mAP@0.5 (and AP per class) of ``detector`` on each condition's evaluation set."""
    out = {}
    for name in conditions:
        frames = eval_set(name, frames_per_condition)
        found = detector.detect(frames.images)
        scores = map50(found, GroundTruth(frames.frame, frames.cls, frames.box), len(CLASSES))
        out[name] = {"map50": float(scores["map50"]),
                     "ap50": {c: _finite(a) for c, a in zip(CLASSES, scores["ap50"], strict=True)}}
    return out


def _finite(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 4)
