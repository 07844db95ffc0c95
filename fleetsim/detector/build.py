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
from fleetsim.detector.dataset import clear_day, render_dataset
from fleetsim.detector.export import export_int8, export_onnx, quantize_int8
from fleetsim.detector.model import CenterNet
from fleetsim.detector.profile import profile
from fleetsim.detector.pruning import prune_channels
from fleetsim.detector.runtime import OnnxDetector
from fleetsim.detector.training import TrainingSettings, initial_model, train
from fleetsim.world import AnnotatedFrames, Conditions
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
    export_int8(thin, paths["pruned_int8"], calibration)
    probe = eval_set("day_clear", 128).images
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
        "int8_vs_fp32": int8_agreement(paths["fp32"], paths["int8"], probe),
        "int8_without_reduce_range_vs_fp32": full_range_agreement(paths["fp32"], calibration, probe),
        "variants": variants,
        "recovery": recovery(model, variants["int8"]["map50"], frames, settings, report),
        "evaluation": {"frames_per_condition": settings.eval_frames, "conditions": EVAL_CONDITIONS},
        "built_with": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
                       "machine": platform.machine(), **build_cpu()},
    }
    (out / CARD).write_text(json.dumps(card, indent=2) + "\n")
    return card


INT8_ISA_FLAGS = ("sse4_1", "avx", "avx2", "fma", "avx_vnni", "avx512f", "avx512bw", "avx512_vnni",
                  "avx512_bf16", "amx_int8", "asimd", "asimddp", "i8mm")
"""CPU flags that decide which int8 kernels ONNX Runtime runs (u8s8 saturation on AVX2 without VNNI)."""


def build_cpu(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict:
    """The CPU a card's figures were measured on: its model name and the int8-relevant ISA flags
    (int8 results differ between AVX2 and AVX-512 VNNI machines); 'unknown' where not readable."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {"cpu": platform.processor() or "unknown", "isa": "unknown (no /proc/cpuinfo)"}
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    return {"cpu": fields.get("model name") or fields.get("Model") or platform.processor() or "unknown",
            "isa": [f for f in INT8_ISA_FLAGS if f in flags]}


def full_range_agreement(fp32: Path, calibration: np.ndarray, images: np.ndarray) -> dict[str, float]:
    """The same check for a quantization with 8-bit weights (no reduce_range): the pitfall of x86
    CPUs without VNNI (AVX2's u8s8 multiply-add saturates); small on AVX-512 VNNI."""
    with tempfile.TemporaryDirectory() as tmp:
        int8 = quantize_int8(fp32, Path(tmp) / "full_range.onnx", calibration, reduce_range=False)
        return int8_agreement(fp32, int8, images)


def int8_agreement(fp32: Path, int8: Path, images: np.ndarray) -> dict[str, float]:
    """Largest and mean absolute heatmap difference between the int8 and fp32 models."""
    a, b = OnnxDetector(fp32).heads(images)[0], OnnxDetector(int8).heads(images)[0]
    diff = np.abs(a - b)
    return {"heatmap_max_abs_error": round(float(diff.max()), 4),
            "heatmap_mean_abs_error": round(float(diff.mean()), 5)}


def recovery(model: CenterNet, baseline: dict[str, dict], replay: AnnotatedFrames, settings: BuildSettings,
             report: Report) -> dict:
    """Fine-tune copies of ``model`` on a few frames of each unseen condition, alone and mixed
    with as many replayed clear-day frames; int8 mAP before and after, on it and on clear day."""
    out = {}
    n = settings.recovery_frames
    for condition in settings.recovery_conditions:
        frames = render_dataset(n, settings.seed, Conditions.uniform(n, **EVAL_CONDITIONS[condition]),
                                purpose=f"recovery_{condition}")
        row = {"frames": n, "epochs": settings.recovery_training.epochs,
               "int8_map50_before": baseline[condition]["map50"],
               "day_clear_before": baseline["day_clear"]["map50"]}
        mixed = AnnotatedFrames.concat([frames, replay.subset(np.arange(n))])
        for name, data in (("new_only", frames), ("with_replay", mixed)):
            report(f"fine-tuning on {n} {condition} frames ({name})")
            tuned = train(copy.deepcopy(model), data, settings.seed, settings.recovery_training)
            after = _int8_scores(tuned, data.images[: settings.calibration_frames], condition, settings)
            row[f"int8_map50_after_{name}"] = after[condition]["map50"]
            row[f"day_clear_after_{name}"] = after["day_clear"]["map50"]
        out[condition] = row
    return out


def _int8_scores(model: CenterNet, calibration: np.ndarray, condition: str, settings: BuildSettings) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        int8 = export_int8(model, Path(tmp) / "tuned_int8.onnx", calibration)
        return evaluate(OnnxDetector(int8), settings.eval_frames, (condition, "day_clear"))
