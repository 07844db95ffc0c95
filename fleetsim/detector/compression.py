"""The compressed variants of the baseline detector, each really built, profiled and scored.

Every variant starts from the baseline recipe (``baseline.pt``, the weights ``fleetsim
detector build`` trains on clear-day frames) or, for students, from that recipe's frames:

- ``fp16``: the fp32 graph converted by ONNX Runtime's float16 converter;
- ``int8_per_tensor``: static QDQ int8 with one weight scale per tensor (``int8``, the
  baseline's, has one per output channel);
- ``int8_qat``: fine-tuned through fake int8 rounding (:mod:`fleetsim.detector.qat`), then
  quantized like ``int8``;
- ``pruned25_int8``/``pruned50_int8``/``pruned75_int8``: 25/50/75 % of every block's channels
  removed (:mod:`fleetsim.detector.pruning`), fine-tuned, quantized;
- ``student25_*``/``student50_*``: the architecture at a quarter and a half of the width,
  trained from scratch on ground truth alone (``_gt``) or with the teacher's soft heatmaps,
  sizes and offsets on the same frames as well (``_kd``), quantized.

``fp32`` and ``int8`` are the baseline's own files. The torch weights each pruned variant and
student was exported from (``OWN_WEIGHTS``) are written beside its file: a retraining job
fine-tunes them (:mod:`fleetsim.cloud.finetune`). The card scores each variant on every
evaluation condition with a bootstrap interval over frames and counts MACs and parameters
from its own graph. Rebuild with ``fleetsim detector build --variants all``.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnxruntime
import torch

from fleetsim.detector.baseline import BASELINE_DIR, CARD, EVAL_CONDITIONS, VARIANTS, WEIGHTS, eval_set
from fleetsim.detector.dataset import clear_day, render_dataset
from fleetsim.detector.evaluation import GroundTruth, map50, map50_interval
from fleetsim.detector.export import convert_fp16, export_int8, quantize_int8
from fleetsim.detector.model import BLOCKS, DEFAULT_WIDTHS, CenterNet
from fleetsim.detector.profile import profile
from fleetsim.detector.pruning import prune_channels
from fleetsim.detector.qat import QuantizationAware
from fleetsim.detector.runtime import OnnxDetector
from fleetsim.detector.training import TrainingSettings, initial_model, train
from fleetsim.detector.variants import (
    BUILT,
    COMPRESSED_DIR,
    OWN_WEIGHTS,
    PRECISION,
    PRUNED,
    STUDENTS,
    teacher_path,
    variant_path,
)
from fleetsim.errors import FleetsimError
from fleetsim.world import AnnotatedFrames
from fleetsim.world.scene import CLASSES

Report = Callable[[str], None]
RECIPE_FRAMES = 4000  # the baseline's training frames: calibration and fine-tuning take their first ones
_EVALUATION = ("seed", "eval_frames", "bootstrap_reps", "level")  # the settings scores depend on


@dataclass(frozen=True)
class CompressionSettings:
    seed: int = 1
    calibration_frames: int = 256
    qat_frames: int = 500
    qat_training: TrainingSettings = TrainingSettings(epochs=1, learning_rate=1e-4)
    prune_frames: int = 2000
    prune_training: TrainingSettings = TrainingSettings(epochs=2, learning_rate=2e-3)
    student_frames: int = 1200
    student_training: TrainingSettings = TrainingSettings(epochs=6)
    eval_frames: int = 400  # per condition, as the baseline's card
    bootstrap_reps: int = 200
    level: float = 0.95


def parse_variants(spec: str) -> list[str]:
    """``--variants``: 'all' or comma-separated names of built variants, in build order."""
    names = BUILT if spec.strip() == "all" else [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in BUILT]
    if unknown or not names:
        raise FleetsimError(f"--variants: {', '.join(unknown) or 'nothing'} unknown; allowed: all or any of "
                            f"{', '.join(BUILT)}")
    return [n for n in BUILT if n in names]


def build_variants(variants: list[str], out: Path = COMPRESSED_DIR, settings: CompressionSettings =
                   CompressionSettings(), base: Path = BASELINE_DIR, report: Report = print) -> dict:
    """Build ``variants`` into ``out`` and write its model card (``write_card``); return the card."""
    out.mkdir(parents=True, exist_ok=True)
    frames = render_dataset(RECIPE_FRAMES, settings.seed, clear_day(RECIPE_FRAMES, settings.seed))
    calibration = frames.images[: settings.calibration_frames]
    recipe = CenterNet()
    recipe.load_state_dict(torch.load(base / WEIGHTS, weights_only=True))
    recipe.eval()
    for variant in variants:
        report(f"building {variant}")
        build_file(variant, out / f"{variant}.onnx", recipe, base / VARIANTS["fp32"], frames, calibration,
                   settings)
    return write_card(out, settings, base, report)


def write_card(out: Path, settings: CompressionSettings, base: Path = BASELINE_DIR,
               report: Report = print) -> dict:
    """Score the baseline's fp32/int8 and every variant built in ``out``; write and return the card.

    A variant whose file the card already scored with the same evaluation settings keeps its scores."""
    old = json.loads((out / CARD).read_text()) if (out / CARD).is_file() else {}
    same = all(old.get("settings", {}).get(k) == getattr(settings, k) for k in _EVALUATION)
    variants = {}
    for variant in ("fp32", "int8", *BUILT):
        path = variant_path(variant, out, base)
        if not path.is_file():
            continue
        found = asdict(profile(path))
        before = old.get("variants", {}).get(variant, {})
        if same and before.get("sha256") == found["sha256"]:
            scored = before["map50"]
        else:
            report(f"evaluating {variant}")
            scored = scores(OnnxDetector(path), settings)
        variants[variant] = {"file": _relative(path, out), "precision": PRECISION.get(variant, "int8"),
                             **describe(variant, settings), **found, "map50": scored}
        weights = weights_path(variant, out)
        if variant in OWN_WEIGHTS and weights.is_file():
            variants[variant]["weights"] = {"file": weights.name, "bytes": weights.stat().st_size}
    card = {
        "name": "fleetsim baseline CenterNet: compressed variants",
        "classes": list(CLASSES),
        "recipe": {"weights": str(Path("..") / base.name / WEIGHTS), "teacher": teacher_path().name,
                   "frames": "the baseline's clear-day training frames (seed "
                   f"{settings.seed}); each variant uses the first ones it needs"},
        "settings": asdict(settings),
        "variants": variants,
        "shipped_bytes": sum(v["file_bytes"] for name, v in variants.items() if name in BUILT),
        "weights_bytes": sum(v["weights"]["bytes"] for v in variants.values() if "weights" in v),
        "evaluation": {"frames_per_condition": settings.eval_frames, "conditions": EVAL_CONDITIONS,
                       "interval": f"{settings.level:.0%} percentile bootstrap over frames, "
                       f"{settings.bootstrap_reps} resamplings"},
        "built_with": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
                       "machine": platform.machine()},
    }
    card["checks"] = checks(card)
    (out / CARD).write_text(json.dumps(card, indent=2) + "\n")
    return card


def _relative(path: Path, out: Path) -> str:
    return path.name if path.parent == out else str(Path("..") / path.parent.name / path.name)


def _student(variant: str) -> tuple[tuple[int, ...], bool]:
    """A student variant's widths and whether it is distilled."""
    student, how = variant.removesuffix("_int8").rsplit("_", 1)
    return tuple(max(4, round(w * STUDENTS[student])) for w in DEFAULT_WIDTHS), how == "kd"


def describe(variant: str, settings: CompressionSettings) -> dict:
    """How a variant is made, and its blocks' widths, as its card entry says."""
    if variant in ("fp32", "int8"):
        return {"recipe": "the baseline's own file (fleetsim detector build)", "widths": list(DEFAULT_WIDTHS)}
    if variant == "fp16":
        return {"recipe": "fp32 graph converted to fp16 (onnxruntime float16, fp32 input/outputs)",
                "widths": list(DEFAULT_WIDTHS)}
    if variant == "int8_per_tensor":
        return {"recipe": "static QDQ int8, one scale per weight tensor", "widths": list(DEFAULT_WIDTHS)}
    if variant == "int8_qat":
        return {"recipe": f"quantization-aware fine-tuning ({settings.qat_frames} frames, "
                f"{settings.qat_training.epochs} epoch(s)), then static QDQ int8 per channel",
                "widths": list(DEFAULT_WIDTHS)}
    if variant in PRUNED:
        keep = PRUNED[variant]
        return {"recipe": f"{1 - keep:.0%} of channels pruned (smallest BatchNorm scale), fine-tuned "
                f"({settings.prune_frames} frames, {settings.prune_training.epochs} epoch(s)), int8",
                "widths": [max(4, round(w * keep)) for w in DEFAULT_WIDTHS]}
    widths, distilled = _student(variant)
    taught = ("ground truth and the teacher's soft heatmaps, sizes and offsets" if distilled
              else "ground truth alone")
    return {"recipe": f"student from scratch on {settings.student_frames} frames, "
            f"{settings.student_training.epochs} epochs, {taught}; int8", "widths": list(widths)}


def build_file(variant: str, path: Path, recipe: CenterNet, fp32: Path, frames: AnnotatedFrames,
               calibration: np.ndarray, settings: CompressionSettings) -> Path:
    """Write one variant's ONNX file from the recipe's weights ``recipe`` and graph ``fp32``."""
    seed = settings.seed
    if variant == "fp16":
        return convert_fp16(fp32, path)
    if variant == "int8_per_tensor":
        return quantize_int8(fp32, path, calibration, per_channel=False)
    model = _copy(recipe)
    if variant == "int8_qat":
        data = frames.subset(np.arange(settings.qat_frames))
        train(QuantizationAware(model), data, seed, settings.qat_training)
        return export_int8(model, path, calibration)
    if variant in PRUNED:
        data = frames.subset(np.arange(settings.prune_frames))
        model = train(prune_channels(model, PRUNED[variant]), data, seed, settings.prune_training)
    else:
        widths, distilled = _student(variant)
        data = frames.subset(np.arange(settings.student_frames))
        soft = teacher_heads(data.images) if distilled else None
        model = train(initial_model(seed, widths), data, seed, settings.student_training, teacher=soft)
    torch.save(model.state_dict(), weights_path(variant, path.parent))
    return export_int8(model, path, calibration)


def teacher_heads(images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The teacher's soft heatmaps, sizes and offsets on ``images``: what a ``_kd`` student learns from."""
    return OnnxDetector(teacher_path()).heads(images)


def distils(variant: str) -> bool:
    """Whether ``variant`` is a student that learns from the teacher (``_kd``)."""
    return variant in OWN_WEIGHTS and variant.endswith("_kd_int8")


def weights_path(variant: str, directory: Path = COMPRESSED_DIR) -> Path:
    """The torch weights of a pruned variant or student, the ones its ONNX file was exported from."""
    return directory / f"{variant}.pt"


def own_model(variant: str, directory: Path = COMPRESSED_DIR) -> CenterNet:
    """A pruned variant or student as torch, from its shipped weights (its widths read from them)."""
    state = torch.load(weights_path(variant, directory), weights_only=True)
    model = CenterNet(tuple(state[f"backbone.{i}.0.weight"].shape[0] for i in range(len(BLOCKS))))
    model.load_state_dict(state)
    return model.eval()


def _copy(model: CenterNet) -> CenterNet:
    fresh = CenterNet(model.widths)
    fresh.load_state_dict(model.state_dict())
    return fresh


def scores(detector: OnnxDetector, settings: CompressionSettings) -> dict[str, dict[str, float]]:
    """mAP@0.5 per evaluation condition with its bootstrap interval over frames."""
    out = {}
    for name in EVAL_CONDITIONS:
        frames = eval_set(name, settings.eval_frames)
        found, truth = detector.detect(frames.images), GroundTruth(frames.frame, frames.cls, frames.box)
        low, high = map50_interval(found, truth, len(CLASSES), settings.eval_frames, settings.bootstrap_reps,
                                   settings.seed, settings.level)
        out[name] = {"map50": round(float(map50(found, truth, len(CLASSES))["map50"]), 4),
                     "low": round(low, 4), "high": round(high, 4)}
    return out


def checks(card: dict) -> dict:
    """The accuracy order the card should show, each with its figures and whether it held."""
    v = card["variants"]
    out = {}
    if {"fp32", "fp16"} <= v.keys():
        gap = max(abs(v["fp16"]["map50"][c]["map50"] - v["fp32"]["map50"][c]["map50"])
                  for c in EVAL_CONDITIONS)
        out["fp16_within_0.01_of_fp32"] = {"largest_gap": round(gap, 4), "held": gap <= 0.01}
    if {"int8", "int8_qat"} <= v.keys():
        qat, static = v["int8_qat"]["map50"]["day_clear"]["map50"], v["int8"]["map50"]["day_clear"]["map50"]
        out["qat_at_least_static_int8_day_clear"] = {"qat": qat, "static": static, "held": qat >= static}
    for student in STUDENTS:
        kd, gt = v.get(f"{student}_kd_int8"), v.get(f"{student}_gt_int8")
        if kd and gt:
            rows = {c: {"kd": kd["map50"][c]["map50"], "gt": gt["map50"][c]["map50"],
                        "beyond_interval": kd["map50"][c]["low"] > gt["map50"][c]["high"]}
                    for c in EVAL_CONDITIONS}
            out[f"{student}_distilled_beats_ground_truth_only"] = {
                "conditions": rows, "held_on": [c for c, r in rows.items() if r["beyond_interval"]]}
    return out

