"""The detector files a fleet may run, by variant name, and the labelling teacher's file: where
each lives, without the code that builds them (``compression``, ``teacher``), so that running a
file does not load torch.

``fp32``, ``int8`` and ``pruned_int8`` are the baseline's own files; ``BUILT`` are the compressed
variants ``fleetsim detector build --variants`` makes.
"""

from __future__ import annotations

from pathlib import Path

from fleetsim.detector.baseline import BASELINE_DIR, VARIANTS
from fleetsim.errors import FleetsimError

COMPRESSED_DIR = Path(__file__).parent / "compressed"
PRUNED = {"pruned25_int8": 0.75, "pruned50_int8": 0.5, "pruned75_int8": 0.25}  # share of channels kept
STUDENTS = {"student25": 0.25, "student50": 0.5}  # width relative to the baseline
BUILT = ("fp16", "int8_per_tensor", "int8_qat", *PRUNED,
         *(f"{s}_{how}_int8" for s in STUDENTS for how in ("gt", "kd")))
OWN_WEIGHTS = BUILT[3:]
"""Variants with weights of their own (pruned, students): their torch weights ship beside their files."""
PRECISION = {"fp32": "fp32", "fp16": "fp16"}  # every other variant is int8
TEACHER_DIR = Path(__file__).parent / "teacher"
TEACHER_MODEL = "teacher_fp32.onnx"


def variant_path(variant: str, directory: Path = COMPRESSED_DIR, base: Path = BASELINE_DIR) -> Path:
    """The ONNX file of a variant: the baseline's for fp32/int8/pruned_int8, else ``directory``'s."""
    if variant in VARIANTS:
        return base / VARIANTS[variant]
    if variant not in BUILT:
        raise FleetsimError(f"detector variant {variant!r}: allowed {', '.join([*VARIANTS, *BUILT])}")
    return directory / f"{variant}.onnx"


def teacher_path(directory: Path = TEACHER_DIR) -> Path:
    """The labelling teacher's fp32 file."""
    return directory / TEACHER_MODEL
