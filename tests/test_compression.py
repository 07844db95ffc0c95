"""Compressed variants: fp16 conversion, bootstrap intervals, the shipped card's figures and order,
deterministic builds, and the frontier (Pareto flags, the choice, the command)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from fleetsim.cli import app
from fleetsim.detector.baseline import EVAL_CONDITIONS, baseline_path, eval_set
from fleetsim.detector.compression import CompressionSettings, build_variants, parse_variants, scores
from fleetsim.detector.evaluation import Detections, GroundTruth, map50, map50_interval
from fleetsim.detector.export import convert_fp16
from fleetsim.detector.frontier import Point, _optimal, choice, frontier, lines, read_card
from fleetsim.detector.profile import profile
from fleetsim.detector.runtime import OnnxDetector
from fleetsim.detector.training import TrainingSettings
from fleetsim.detector.variants import BUILT, variant_path
from fleetsim.errors import FleetsimError
from fleetsim.world.scene import CLASSES

FIXED = CompressionSettings(eval_frames=120, bootstrap_reps=100)


@pytest.fixture(scope="module")
def card():
    return read_card()


def test_a_perfect_detector_has_a_zero_width_interval_and_a_real_one_brackets_its_map():
    frames = eval_set("day_clear", 60)
    truth = GroundTruth(frames.frame, frames.cls, frames.box)
    perfect = Detections(frames.frame, frames.cls, np.ones(len(frames.frame)), frames.box)
    assert map50_interval(perfect, truth, len(CLASSES), 60, reps=50) == (1.0, 1.0)
    found = OnnxDetector(baseline_path("int8")).detect(frames.images)
    low, high = map50_interval(found, truth, len(CLASSES), 60, reps=100)
    assert low < map50(found, truth, len(CLASSES))["map50"] < high
    assert map50_interval(found, truth, len(CLASSES), 60, reps=100, seed=3) != (low, high)


def test_fp16_conversion_halves_the_file_keeps_the_macs_and_the_accuracy(tmp_path):
    fp32 = baseline_path("fp32")
    fp16 = convert_fp16(fp32, tmp_path / "fp16.onnx")
    a, b = profile(fp32), profile(fp16)
    assert (b.macs, b.params, b.conv_layers) == (a.macs, a.params, a.conv_layers)
    assert b.file_bytes < 0.55 * a.file_bytes
    images = eval_set("day_clear", 32).images
    assert np.abs(OnnxDetector(fp16).heads(images)[0] - OnnxDetector(fp32).heads(images)[0]).max() < 0.01


def test_every_shipped_variant_is_counted_from_its_own_graph(card):
    assert set(card["variants"]) == {"fp32", "int8", *BUILT}
    for name, entry in card["variants"].items():
        found = profile(variant_path(name))
        assert (found.macs, found.params, found.file_bytes, found.sha256) == \
            (entry["macs"], entry["params"], entry["file_bytes"], entry["sha256"]), name
        for score in entry["map50"].values():
            assert score["low"] <= score["map50"] <= score["high"]
    macs = {n: e["macs"] for n, e in card["variants"].items()}
    assert macs["pruned75_int8"] < macs["pruned50_int8"] < macs["pruned25_int8"] < macs["int8"]
    assert macs["student25_kd_int8"] == macs["student25_gt_int8"] < macs["student50_gt_int8"]
    shipped = sum(e["file_bytes"] for n, e in card["variants"].items() if n in BUILT)
    assert card["shipped_bytes"] == shipped < 700_000


def test_accuracy_order_on_fixed_frames(card):
    """fp16 within 0.01 of fp32 on every condition, and QAT int8 not measurably worse than static int8
    on a clear day (within static int8's interval), re-measured here on fixed frames."""
    measured = {v: scores(OnnxDetector(variant_path(v)), FIXED) for v in ("fp32", "fp16", "int8", "int8_qat")}
    for condition in EVAL_CONDITIONS:
        assert abs(measured["fp16"][condition]["map50"] - measured["fp32"][condition]["map50"]) <= 0.01
    qat, static = measured["int8_qat"]["day_clear"], measured["int8"]["day_clear"]
    assert qat["map50"] >= static["low"]
    assert card["checks"]["fp16_within_0.01_of_fp32"]["held"]
    check = card["checks"]["qat_at_least_static_int8_day_clear"]
    assert check["held"] == (check["qat"] >= check["static"])


def test_the_card_says_where_distillation_beat_the_interval(card):
    for student in ("student25", "student50"):
        check = card["checks"][f"{student}_distilled_beats_ground_truth_only"]
        kd = card["variants"][f"{student}_kd_int8"]["map50"]
        gt = card["variants"][f"{student}_gt_int8"]["map50"]
        assert check["held_on"] == [c for c in EVAL_CONDITIONS if kd[c]["low"] > gt[c]["high"]]


@pytest.mark.slow
def test_the_same_seed_builds_the_same_files(tmp_path):
    tiny = CompressionSettings(calibration_frames=16, qat_frames=32, qat_training=TrainingSettings(epochs=1),
                               prune_frames=32, prune_training=TrainingSettings(epochs=1), student_frames=32,
                               student_training=TrainingSettings(epochs=1), eval_frames=10, bootstrap_reps=10)
    names = ["fp16", "int8_per_tensor", "int8_qat", "pruned75_int8", "student25_kd_int8"]
    cards = [build_variants(names, tmp_path / run, tiny, report=lambda _: None) for run in ("a", "b")]
    for name in names:
        a, b = (tmp_path / run / f"{name}.onnx" for run in ("a", "b"))
        assert a.read_bytes() == b.read_bytes(), name
    assert cards[0]["variants"] == cards[1]["variants"]


def test_variant_names_are_checked():
    assert parse_variants("student25_kd_int8, fp16") == ["fp16", "student25_kd_int8"]
    assert parse_variants("all") == list(BUILT)
    with pytest.raises(FleetsimError, match="allowed: all or any of"):
        parse_variants("fp8")
    result = CliRunner().invoke(app, ["detector", "build", "--variants", "fp8"])
    assert result.exit_code == 2 and "fp8" in result.output


def _point(variant, map50, latency, energy):
    return Point("dev", variant, "int8", map50, map50 - 0.02, map50 + 0.02, latency, energy, 1, 1)


def test_pareto_flags_and_the_choice():
    row = [_point("big", 0.80, 3.0, 3.0), _point("mid", 0.79, 2.0, 4.0), _point("small", 0.50, 1.0, 1.0),
           _point("worse", 0.70, 2.5, 5.0)]
    assert [_optimal(p, row, "latency_s") for p in row] == [True, True, True, False]
    assert [_optimal(p, row, "energy_j") for p in row] == [True, False, True, False]
    assert choice(row, "dev").variant == "mid"  # its interval reaches the best, and it is faster


def test_frontier_costs_each_variant_at_a_precision_the_device_runs(card, catalog):
    points = frontier(card, ["coral_usb", "jetson_orin_nano", "rpi5_cpu"], catalog)
    by = {(p.device, p.variant): p for p in points}
    assert ("coral_usb", "fp32") not in by and ("coral_usb", "int8") in by
    assert ("jetson_orin_nano", "fp16") in by and ("rpi5_cpu", "fp16") not in by
    assert by["rpi5_cpu", "pruned75_int8"].latency_s < by["rpi5_cpu", "int8"].latency_s
    assert all(len(line) <= 80 for line in lines(points))


def test_frontier_command_prints_writes_and_refuses_unknown_devices(tmp_path):
    result = CliRunner().invoke(app, ["detector", "frontier", "--devices", "jetson_orin_nano", "--out",
                                      str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "jetson_orin_nano" in result.output and max(map(len, result.output.splitlines())) <= 80
    assert (tmp_path / "frontier_jetson_orin_nano.png").stat().st_size > 0
    report = json.loads((tmp_path / "frontier.json").read_text())
    assert report["ship"]["jetson_orin_nano"] in {p["variant"] for p in report["points"]}
    bad = CliRunner().invoke(app, ["detector", "frontier", "--devices", "warp_drive"])
    assert bad.exit_code == 2 and len(bad.output.strip().splitlines()) == 1


def test_a_scenario_can_name_a_compressed_variant_as_its_model():
    from fleetsim.detector.registry import resolve_model
    from fleetsim.scenario.model_file import model_problems

    assert resolve_model("fp16") == variant_path("fp16")
    assert model_problems("student50_kd_int8", None) == []
    assert "compressed variant: fp16" in model_problems("fp8", None)[0]
