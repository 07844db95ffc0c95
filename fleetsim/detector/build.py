"""Build the baseline detector from scratch: train, export, quantize, prune, evaluate, card.

``fleetsim detector build`` runs this on the CPU in minutes. Everything is derived from
``BuildSettings`` and its seed, so a rebuild gives the same weights on the same machine
type and the same model card figures.
"""

from __future__ import annotations

import copy
import json
import platform
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime
import torch

from fleetsim.detector.baseline import (
    BASELINE_DIR,
    CARD,
    EVAL_CONDITIONS,
    VARIANTS,
    WEIGHTS,
    eval_set,
    evaluate,
)
from fleetsim.detector.export import export_onnx, quantize_int8
from fleetsim.detector.model import CenterNet
from fleetsim.detector.profile import profile
from fleetsim.detector.pruning import prune_channels
from fleetsim.detector.runtime import OnnxDetector
from fleetsim.detector.training import TrainingSettings, clear_day, initial_model, render_dataset, train
from fleetsim.world import Conditions
from fleetsim.world.scene import CLASSES

Report = Callable[[str], None]


@dataclass(frozen=True)
class BuildSettings:
    seed: int = 1
    train_frames: int = 4000
    training: TrainingSettings = TrainingSettings(epochs=10)
    prune_keep: float = 0.5
    prune_training: TrainingSettings = TrainingSettings(epochs=4, learning_rate=1e-3)
    calibration_frames: int = 256
    eval_frames: int = 400
    recovery_frames: int = 1000
    recovery_training: TrainingSettings = TrainingSettings(epochs=6, learning_rate=1e-3)
    recovery_conditions: tuple[str, ...] = field(default=("night_clear", "day_fog"))


def build(out: Path = BASELINE_DIR, settings: BuildSettings = BuildSettings(),
          report: Report = print) -> dict:
    """Train and write every variant plus ``model_card.json`` into ``out``; return the card."""
    out.mkdir(parents=True, exist_ok=True)
    n = settings.train_frames
    frames = render_dataset(n, settings.seed, clear_day(n, settings.seed))
    report(f"training on {settings.train_frames} clear-day frames ({frames.frame.size} objects)")
    model = train(initial_model(settings.seed), frames, settings.seed, settings.training,
                  on_epoch=lambda e, loss: report(f"  epoch {e + 1}: loss {loss:.3f}"))
    torch.save(model.state_dict(), out / WEIGHTS)
    calibration = frames.images[: settings.calibration_frames]
    paths = {v: out / name for v, name in VARIANTS.items()}
    export_onnx(model, paths["fp32"])
    quantize_int8(paths["fp32"], paths["int8"], calibration)
    report(f"pruning to {settings.prune_keep:.0%} of channels and fine-tuning")
    thin = train(prune_channels(model, settings.prune_keep), frames, settings.seed, settings.prune_training)
    pruned_fp32 = out / "pruned_fp32.onnx"
    export_onnx(thin, pruned_fp32)
    quantize_int8(pruned_fp32, paths["pruned_int8"], calibration)
    pruned_fp32.unlink()
    variants = {}
    for variant, path in paths.items():
        report(f"evaluating {variant}")
        variants[variant] = {"file": path.name, **asdict(profile(path)),
                             "map50": evaluate(OnnxDetector(path), settings.eval_frames)}
    card = {
        "name": "fleetsim baseline CenterNet",
        "classes": list(CLASSES),
        "input": {"name": "frames", "layout": "NCHW float32 in [0, 1]", "size": [96, 96]},
        "training": {"conditions": "clear day: daylight 0.7-1.0, clear weather, noise 0-0.15, blur 0-0.2",
                     "frames": settings.train_frames, "seed": settings.seed, **asdict(settings.training)},
        "widths": {"baseline": list(model.widths), "pruned": list(thin.widths)},
        "quantization": {"format": "QDQ", "weights": "int8 per-channel", "activations": "uint8",
                         "reduce_range": True, "calibration_frames": settings.calibration_frames},
        "int8_vs_fp32": int8_agreement(paths["fp32"], paths["int8"], eval_set("day_clear", 128).images),
        "variants": variants,
        "recovery": recovery(model, variants["int8"]["map50"], settings, report),
        "evaluation": {"frames_per_condition": settings.eval_frames, "conditions": EVAL_CONDITIONS},
        "built_with": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
                       "machine": platform.machine()},
    }
    (out / CARD).write_text(json.dumps(card, indent=2) + "\n")
    return card


def int8_agreement(fp32: Path, int8: Path, images: np.ndarray) -> dict[str, float]:
    """Largest and mean absolute heatmap difference between the int8 and fp32 models."""
    a, b = OnnxDetector(fp32).heads(images)[0], OnnxDetector(int8).heads(images)[0]
    diff = np.abs(a - b)
    return {"heatmap_max_abs_error": round(float(diff.max()), 4),
            "heatmap_mean_abs_error": round(float(diff.mean()), 5)}


def recovery(model: CenterNet, baseline: dict[str, dict], settings: BuildSettings, report: Report) -> dict:
    """Fine-tune copies of ``model`` on a few frames of each unseen condition; int8 mAP before and after."""
    out = {}
    for condition in settings.recovery_conditions:
        n = settings.recovery_frames
        frames = render_dataset(n, settings.seed, Conditions.uniform(n, **EVAL_CONDITIONS[condition]),
                                purpose=f"recovery_{condition}")
        report(f"fine-tuning on {n} {condition} frames")
        tuned = train(copy.deepcopy(model), frames, settings.seed, settings.recovery_training)
        with tempfile.TemporaryDirectory() as tmp:
            fp32 = export_onnx(tuned, Path(tmp) / "tuned_fp32.onnx")
            calibration = frames.images[: settings.calibration_frames]
            int8 = quantize_int8(fp32, Path(tmp) / "tuned_int8.onnx", calibration)
            after = evaluate(OnnxDetector(int8), settings.eval_frames, (condition, "day_clear"))
        out[condition] = {"frames": n, "epochs": settings.recovery_training.epochs,
                          "int8_map50_before": baseline[condition]["map50"],
                          "int8_map50_after": after[condition]["map50"],
                          "day_clear_before": baseline["day_clear"]["map50"],
                          "day_clear_after": after["day_clear"]["map50"]}
    return out
