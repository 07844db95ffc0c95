"""Measuring a device and bringing it into fleetsim (issue 16, items 1, 2, 5, 7): the measured
CPU's committed points, the per-layer comparison's op classes, ``fleetsim hardware calibrate``
end to end (a device fitted on a few measured points predicts the workloads it never saw, and a
scenario runs on it from a file outside the catalog), and one-line errors for bad input."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter

import pytest
import yaml
from typer.testing import CliRunner

import fleetsim
from fleetsim.cli import app
from fleetsim.hardware.calibrate import (
    calibrate,
    leave_one_workload_out,
    median_abs_error,
    read_device,
    read_points,
    write_device,
)
from fleetsim.hardware.fit import device_fit
from fleetsim.hardware.inference import inference_cost
from fleetsim.hardware.per_layer import layer_class, node_class, predicted_by_class, read_measured
from fleetsim.scenario.models import Scenario
from tests.conftest import ROOT, small_scenario_data, with_overrides

runner = CliRunner()
MEASURED = "amd_epyc_avx512_vnni"
POINTS = ROOT / "hardware_models" / "measurements" / f"{MEASURED}.csv"
TEMPLATE = ROOT / "hardware_models" / "measurements" / f"{MEASURED}_device.yaml"
FITTED_ON = ["mobilenet_v1_224", "inception_v1_224", "resnet50_299", "ssdlite_mobilenet_v2_300",
             "yolov5s_640"]
"""Five workloads (ten points, fp32 and int8) a user's calibration is fitted on; the rest are held out."""


def test_the_measured_device_is_calibrated_on_its_own_measurements(catalog):
    device = catalog.device(MEASURED)
    points = {(p.workload, p.precision): p.latency for p in read_points(POINTS)}
    assert {(p.workload, p.precision): p.latency for p in device.calibration} == pytest.approx(points)
    assert {p for _, p in points} == {"fp32", "int8"} and len(points) >= 40
    with POINTS.open() as f:
        first = next(csv.DictReader(f))
    assert "avx512_vnni" in first["isa"] and first["threads"] == "1" and first["load_1min"]


def test_leave_one_workload_out_stays_within_the_bound(catalog):
    """Guard rail of benchmarks/hardware_measured.py: fitted on the other workloads, each one is
    predicted within a median 10.5 % (today 9.4 %, 11.7 % before cache-resident layers; the issue's
    target is 15 %)."""
    held = leave_one_workload_out(catalog.device(MEASURED), catalog)
    assert len(held) == len(catalog.device(MEASURED).calibration)
    assert median_abs_error(held) <= 0.105


def test_int8_element_wise_layers_cost_what_ort_spends_on_them(catalog):
    """Unfused on a CPU's int8 graphs, the element-wise layers of the YOLOv8/11 models take about
    the share of the time ORT's QLinearAdd/Mul/Sigmoid nodes take (fused, the model gave them a sixth;
    priced at the cache bandwidth, YOLOv8n's come out at half the measured share: requantizing every
    element costs more than the copy the memory term describes)."""
    device = catalog.device(MEASURED)
    fit, measured = device_fit(device, catalog), read_measured(POINTS)
    for workload in ("yolov8n_640", "yolo11n_640"):
        nodes = measured.nodes_s[workload, "int8"]
        share = nodes["elementwise"] / sum(nodes.values())
        predicted = predicted_by_class(device, fit, workload, "int8", catalog)
        assert 0.45 < predicted["elementwise"] / sum(predicted.values()) / share < 2, workload


def test_measured_and_predicted_convolutions_fall_in_the_same_classes(catalog):
    """ORT's fp32 graph runs one conv node per conv of the architecture, so the weight-shape classes
    of the measured nodes and the kernel-size estimate of the profile's layers must count alike."""
    measured = read_measured(POINTS)
    counts = {}
    with POINTS.with_name(f"{MEASURED}_layers.csv").open() as f:
        for row in csv.DictReader(f):
            if row["precision"] == "fp32":
                counts.setdefault(row["workload"], Counter())[row["op_class"]] += 1
    convs = ("conv", "pointwise", "depthwise_conv")
    for workload in measured.workloads:
        profile = Counter(layer_class(x) for x in catalog.profile(workload).layers)
        assert {c: counts[workload][c] for c in convs} == {c: profile[c] for c in convs}, workload


@pytest.mark.parametrize("op, weight, expected", [
    ("Conv", [32, 3, 3, 3], "conv"), ("FusedConv", [96, 1, 3, 3], "depthwise_conv"),
    ("QLinearConv", [16, 32, 1, 1], "pointwise"), ("QLinearConv", None, "conv"), ("Resize", None, "resize"),
    ("QLinearAdd", None, "elementwise"), ("MaxPool", None, "pooling"), ("Gemm", None, "matmul"),
    ("ReorderInput", None, "layout"), ("DequantizeLinear", None, "quantize"),
])
def test_ort_nodes_are_put_in_op_classes(op, weight, expected):
    assert node_class(op, weight) == expected


def _user_points(tmp_path):
    """The measured points of FITTED_ON, as a user's CSV of the three required columns."""
    rows = [p for p in read_points(POINTS) if p.workload in FITTED_ON]
    path = tmp_path / "points.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["workload", "precision", "measured"])
        writer.writerows([p.workload, p.precision, f"{p.latency * 1e3:.4f} ms"] for p in rows)
    return path


def _user_device(tmp_path):
    data = yaml.safe_load(TEMPLATE.read_text())
    data["id"] = "my_epyc"
    path = tmp_path / "my_epyc.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_calibrate_fits_a_device_that_predicts_workloads_it_never_saw_and_runs_a_scenario(tmp_path, catalog):
    device, points = _user_device(tmp_path), _user_points(tmp_path)
    fitted = tmp_path / "fitted" / "my_epyc.yaml"
    result = runner.invoke(app, ["hardware", "calibrate", str(device), str(points), "--out", str(fitted)])
    assert result.exit_code == 0, result.output
    assert "in-sample: median |error|" in result.output and "leave-one-workload-out" in result.output
    assert len(yaml.safe_load(fitted.read_text())["calibration"]) == 2 * len(FITTED_ON)

    with_user = catalog.with_device_files([fitted])
    user = with_user.device("my_epyc")
    errors = [inference_cost(user, with_user.profile(p.workload), p.precision, with_user).latency_s
              / p.latency - 1 for p in read_points(POINTS) if p.workload not in FITTED_ON]
    assert len(errors) >= 20
    assert sorted(abs(e) for e in errors)[len(errors) // 2] <= 0.25  # workloads it never saw

    check = runner.invoke(app, ["validate", str(_scenario_file(tmp_path)), "--device-file", str(fitted)])
    assert check.exit_code == 0, check.output
    data = with_overrides(small_scenario_data(), fleet__groups__1__accelerator="my_epyc",
                          simulation__duration="2 min", cloud__retraining={"kind": "never"})
    results = fleetsim.run(Scenario.model_validate(data), catalog=with_user)
    vehicles = results.tables["vehicles"].query("group == 'rpi'")
    assert (vehicles["accelerator"] == "my_epyc").all() and (vehicles["inference_latency_s"] > 0).all()


def test_calibrating_keeps_the_files_own_points_as_written(tmp_path, catalog):
    """A point of the device file that the measured points do not replace is written back whole,
    with every field it states (not just workload, precision, time and source)."""
    path = _user_device(tmp_path)
    data = yaml.safe_load(path.read_text())
    own = {"workload": "yolox_s_640", "precision": "int8", "latency": "40 ms", "scope": "pipeline",
           "harness": "numpy", "raw_outputs": True, "source": "a numpy script on this board"}
    data["calibration"] = [own]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    fitted = calibrate(read_device(path), read_points(_user_points(tmp_path)), catalog)
    written = yaml.safe_load(write_device(path, fitted, tmp_path / "fitted.yaml").read_text())["calibration"]
    assert written[0] == own and len(written) == 1 + 2 * len(FITTED_ON)


def test_a_sweep_over_a_user_device_sends_it_to_its_workers(tmp_path):
    """`fleetsim sweep --device-file`: spawned workers load the shipped catalog, so the sweep sends
    the user's device with each run; without the file the sweep is refused before anything runs."""
    device, points = _user_device(tmp_path), _user_points(tmp_path)
    fitted = tmp_path / "fitted" / "my_epyc.yaml"
    calibrated = runner.invoke(app, ["hardware", "calibrate", str(device), str(points), "--out", str(fitted)])
    assert calibrated.exit_code == 0, calibrated.output
    base = with_overrides(small_scenario_data(), fleet__groups__1__accelerator="my_epyc",
                          simulation__duration="1 min", cloud__retraining={"kind": "never"})
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"base": "base.yaml", "grid": {"fleet.groups[1].count": [1, 2]},
                                     "metrics": ["groups.rpi.frames.processed"]}))
    refused = runner.invoke(app, ["sweep", str(sweep), "--out", str(tmp_path / "no"), "-q"])
    assert refused.exit_code == 2 and "my_epyc" in refused.output
    result = runner.invoke(app, ["sweep", str(sweep), "--out", str(tmp_path / "out"), "--workers", "2",
                                 "-q", "--device-file", str(fitted)])
    assert result.exit_code == 0, result.output
    runs = list((tmp_path / "out" / "runs").glob("*/summary.json"))
    assert len(runs) == 2
    assert all(json.loads(r.read_text())["groups"]["rpi"]["frames"]["processed"] > 0 for r in runs)


def _scenario_file(tmp_path):
    data = with_overrides(small_scenario_data(), fleet__groups__1__accelerator="my_epyc")
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_without_the_device_file_the_scenario_names_an_unknown_device(tmp_path):
    result = runner.invoke(app, ["validate", str(_scenario_file(tmp_path))])
    assert result.exit_code == 2 and "my_epyc" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("change, fragment", [
    (lambda d, p: (d.with_name("none.yaml"), p), "no such device file"),
    (lambda d, p: (d, p.with_name("none.csv")), "no such points file"),
    (lambda d, p: (d, _write(p, "workload,precision\nresnet50_224,int8\n")), "missing column(s) measured"),
    (lambda d, p: (d, _write(p, "workload,precision,measured\nresnet50_224,int8,fast\n")), ":2: measured:"),
    (lambda d, p: (d, _write(p, "workload,precision,measured\nresnet99,int8,3 ms\n")), "unknown workload"),
    (lambda d, p: (d, _write(p, "workload,precision,measured\nresnet50_224,fp16,3 ms\n")), "no peak at fp16"),
    (lambda d, p: (d, _write(p, "workload,precision,measured\n")), "no points"),
])
def test_bad_calibration_input_gives_one_clean_line(tmp_path, change, fragment):
    device, points = change(_user_device(tmp_path), _user_points(tmp_path))
    result = runner.invoke(app, ["hardware", "calibrate", str(device), str(points)])
    assert result.exit_code == 2, result.output
    assert fragment in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def _write(path, text):
    path.write_text(text)
    return path


def test_a_device_file_may_not_take_a_catalog_id(tmp_path):
    clash = tmp_path / "coral_usb.yaml"
    shutil.copy(ROOT / "hardware_models" / "edge" / "coral_usb.yaml", clash)
    result = runner.invoke(app, ["validate", str(_scenario_file(tmp_path)), "--device-file", str(clash)])
    assert result.exit_code == 2 and "already a device" in result.output


@pytest.mark.parametrize("args, fragment", [
    (["--provider", "tensorrt"], "TensorrtExecutionProvider is not available"),
    (["--provider", "npu"], "allowed: cpu, cuda, tensorrt"),
    (["--workloads", "resnet99"], "no architecture definition for resnet99"),
    (["--precisions", "fp16"], "allowed: fp32, int8"),
])
def test_measure_refuses_what_it_cannot_run_in_one_line(tmp_path, args, fragment):
    result = runner.invoke(app, ["hardware", "measure", *args, "--out", str(tmp_path / "m.csv")])
    assert result.exit_code == 2, result.output
    assert fragment in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_measure_writes_model_and_per_node_points(tmp_path):
    out = tmp_path / "m.csv"
    result = runner.invoke(app, ["hardware", "measure", "--workloads", "mobilenet_v2_224", "--repeats", "2",
                                 "--warmup", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    points = read_points(out)
    assert [(p.workload, p.precision) for p in points] == [("mobilenet_v2_224", "fp32"),
                                                           ("mobilenet_v2_224", "int8")]
    assert all(p.latency > 0 for p in points)
    measured = read_measured(out)
    for precision in ("fp32", "int8"):
        classes = measured.nodes_s["mobilenet_v2_224", precision]
        assert classes["depthwise_conv"] > 0 and classes["pointwise"] > 0


@pytest.mark.parametrize("workload, precision", [("efficientdet_lite0_320", "int8"), ("yolov8n_640", "fp32")])
def test_the_per_class_split_adds_up_to_the_models_latency(catalog, workload, precision):
    """predicted_by_class prices the layers as the roofline does: if the roofline changes, so must it."""
    device = catalog.device(MEASURED)
    split = predicted_by_class(device, device_fit(device, catalog), workload, precision, catalog)
    whole = inference_cost(device, catalog.profile(workload), precision, catalog).latency_s
    assert sum(split.values()) == pytest.approx(whole, rel=1e-9)


def test_the_numpy_harness_prior_is_what_its_script_costs_here():
    """fleetsim.tools.harness times the numpy work of a YOLOX-style Python script (the prior of
    PRIOR_NUMPY_HARNESS); its steps give the network input and a class-aware NMS that keeps boxes."""
    import numpy as np

    from fleetsim.tools.harness import harness_s, head_output, postprocess, preprocess

    rng = np.random.default_rng(0)
    image = preprocess(rng.integers(0, 256, (576, 768, 3), dtype=np.uint8), 320)
    assert image.shape == (3, 320, 320) and image.dtype == np.float32
    assert image[:, -1, 0].tolist() == [114] * 3  # the letterbox's padding
    kept = postprocess(head_output(320, rng), 320)
    assert 0 < len(kept) <= 3 and all(len(boxes) >= 1 for boxes in kept)
    pre, post = harness_s(320, repeats=3)
    assert pre > 0 and post > 0
