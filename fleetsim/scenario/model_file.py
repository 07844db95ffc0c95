"""The scenario's detector model file, checked without running it: it must be an ONNX graph
that onnx's checker accepts, with the input and outputs the fleet's detector feeds and decodes.

A shipped baseline variant names ``fleetsim/detector/baseline/baseline_<variant>.onnx``, a
shipped compressed variant (one its model card lists) ``fleetsim/detector/compressed/<variant>.onnx``;
any other value is a path to an .onnx file, relative to the scenario file's folder. A shipped
file whose bytes are the SHA-256 its model card records passes without loading onnx (whose
import is most of ``fleetsim validate``'s time); any other file gets the full check.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

INPUT = "frames"
"""The detector's input: float32 frames (batch, 3, height, width) in [0, 1]."""
OUTPUTS = ("heatmap", "size", "offset")
"""Its outputs, each (batch, channels, height / 4, width / 4): a heatmap per class, box size,
centre offset; the channels must be the shipped baseline's."""
BASELINE_DIR = Path(__file__).resolve().parents[1] / "detector" / "baseline"
BASELINE_VARIANTS = ("fp32", "int8", "pruned_int8")
BASELINE_PRECISION = {"fp32": "fp32", "int8": "int8", "pruned_int8": "int8"}
COMPRESSED_DIR = BASELINE_DIR.parent / "compressed"


def compressed_variants() -> dict[str, dict]:
    """The compressed variants shipped in ``COMPRESSED_DIR`` (name -> model card entry)."""
    try:
        card = json.loads((COMPRESSED_DIR / "model_card.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {name: entry for name, entry in card.get("variants", {}).items() if "/" not in entry["file"]}


def shipped_precision(spec: str) -> str | None:
    """The precision a shipped variant runs at (None for a path to a file)."""
    if spec in BASELINE_PRECISION:
        return BASELINE_PRECISION[spec]
    entry = compressed_variants().get(spec)
    return None if entry is None else entry.get("precision", "int8")


def variant_problems(scenario, base_dir: Path | None) -> list[tuple[tuple, str]]:
    """(field, message) for every detector file the fleet's groups would run that cannot run, and
    every group naming a shipped variant of another precision than its own."""
    problems, checked = [], set()
    for i, group in enumerate(scenario.fleet.groups):
        spec = scenario.variant_of(group)
        where = (("fleet", "groups", i, "variant") if group.variant else
                 ("detector", "model") if scenario.detector.model else ("fleet", "groups", i, "precision"))
        if spec not in checked:
            checked.add(spec)
            problems += [(where, m) for m in model_problems(spec, base_dir)]
        runs_at = shipped_precision(spec)
        if group.variant and runs_at is not None and runs_at != group.precision:
            same = [v for v in (*BASELINE_VARIANTS, *compressed_variants())
                    if shipped_precision(v) == group.precision]
            problems.append((where, f"{spec!r} runs at {runs_at}, the group at {group.precision} "
                                    f"(allowed at {group.precision}: {', '.join(same)} or an .onnx file)"))
    return problems


def model_path(spec: str, base_dir: Path | None) -> Path:
    """The file ``detector.model`` names."""
    if spec in BASELINE_VARIANTS:
        return BASELINE_DIR / f"baseline_{spec}.onnx"
    if spec in compressed_variants():
        return COMPRESSED_DIR / f"{spec}.onnx"
    path = Path(spec)
    return path if path.is_absolute() or base_dir is None else base_dir / path


def _dims(value) -> list[int | str]:
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
            for d in value.type.tensor_type.shape.dim]


def _shipped_intact(spec: str) -> bool:
    """A baseline variant whose bytes are the ones its model card records (the test suite runs
    those files), so ``validate`` need not load onnx (most of its time) to check it."""
    if spec not in BASELINE_VARIANTS and spec not in compressed_variants():
        return False
    try:
        card = json.loads(((BASELINE_DIR if spec in BASELINE_VARIANTS else COMPRESSED_DIR)
                           / "model_card.json").read_text(encoding="utf-8"))
        recorded = card["variants"][spec]["sha256"]
        return hashlib.sha256(model_path(spec, None).read_bytes()).hexdigest() == recorded
    except (OSError, ValueError, KeyError, TypeError):
        return False


def model_problems(spec: str, base_dir: Path | None) -> list[str]:
    """Why the model ``spec`` names cannot run on the fleet (empty if it can)."""
    if _shipped_intact(spec):
        return []
    import onnx
    from onnx import TensorProto

    path = model_path(spec, base_dir)
    where = f"{spec!r} ({path})" if str(path) != spec else repr(spec)
    named = (*BASELINE_VARIANTS, *compressed_variants())
    if spec not in named and path.suffix != ".onnx":
        return [f"{spec!r} is neither a baseline variant ({', '.join(BASELINE_VARIANTS)}) nor an .onnx file "
                f"(or a compressed variant: {', '.join(named[len(BASELINE_VARIANTS):])})"]
    if not path.is_file():
        return [f"{where}: no such file (allowed: {', '.join(named)} or an existing .onnx file)"]
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as err:  # onnx raises DecodeError, ValidationError, OSError, ... for a bad file
        text = " ".join(str(err).split())[:200] or type(err).__name__
        return [f"{where}: not a valid ONNX model ({type(err).__name__}: {text})"]
    inputs = {v.name: v for v in model.graph.input}
    outputs = {v.name: v for v in model.graph.output}
    problems = []
    if INPUT not in inputs:
        problems.append(f"{where}: has no input {INPUT!r} (has: {', '.join(inputs) or 'none'})")
    else:
        value = inputs[INPUT]
        dims = _dims(value)
        if value.type.tensor_type.elem_type != TensorProto.FLOAT or len(dims) != 4 or dims[1] != 3:
            kind = TensorProto.DataType.Name(value.type.tensor_type.elem_type).lower()
            problems.append(f"{where}: input {INPUT!r} must be float32 (batch, 3, height, width), "
                            f"is {kind} {dims}")
    expected = {v.name: _dims(v)[1] for v in onnx.load(str(model_path("int8", None))).graph.output}
    for name in OUTPUTS:
        if name not in outputs:
            problems.append(f"{where}: has no output {name!r} (expected {', '.join(OUTPUTS)})")
            continue
        dims = _dims(outputs[name])
        channels = expected[name]
        if len(dims) != 4 or dims[1] != channels:
            problems.append(f"{where}: output {name!r} must be (batch, {channels}, h, w), is {dims}")
    return problems
