"""The ``fleetsim hardware`` commands: show, predict (ids and ONNX files), validate."""

from __future__ import annotations

import json
import statistics

import pytest
from typer.testing import CliRunner

from fleetsim.cli import app
from fleetsim.detector.baseline import baseline_path
from fleetsim.hardware.inference import inference_cost

runner = CliRunner()


def _json(*args):
    result = runner.invoke(app, ["hardware", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_predict_matches_the_model_and_batches_amortise_the_call_overhead(catalog):
    one = _json("predict", "coral_usb", "mobilenet_v2_224")
    device, workload = catalog.device("coral_usb"), catalog.profile("mobilenet_v2_224")
    expected = inference_cost(device, workload, "int8", catalog)
    assert one["latency_ms"] == pytest.approx(expected.latency_s * 1e3)
    assert one["energy_mj"] == pytest.approx(expected.energy_j * 1e3)
    eight = _json("predict", "coral_usb", "mobilenet_v2_224", "--batch", "8")
    assert one["throughput_fps"] < eight["throughput_fps"] < 8 * one["throughput_fps"]


def test_predict_costs_an_onnx_graph_like_its_workload_file():
    from_graph = _json("predict", "jetson_orin_nano", str(baseline_path("int8")))
    from_file = _json("predict", "jetson_orin_nano", "fleetsim_centernet_96")
    assert from_graph["macs"] == from_file["macs"] and from_graph["latency_ms"] == from_file["latency_ms"]


@pytest.mark.parametrize("args, fragment", [
    (["predict", "coral_usbb", "mobilenet_v2_224"], "did you mean 'coral_usb'"),
    (["predict", "coral_usb", "mobilenet_v9"], "unknown workload 'mobilenet_v9'"),
    (["predict", "coral_usb", "missing.onnx"], "no such ONNX file"),
    (["predict", "rpi4_cpu", "mobilenet_v2_224", "--precision", "fp16"], "cannot run fp16"),
    (["show", "nothing"], "allowed:"),
    (["predict", "jetson_orin_nano", "yolov8n_640", "--throttled"], "has no thermal figures"),
])
def test_bad_ids_give_one_clean_error(args, fragment):
    result = runner.invoke(app, ["hardware", *args])
    assert result.exit_code == 2
    assert fragment in result.output and "Traceback" not in result.output


def test_show_prints_sources_and_validate_reports_leave_one_out():
    shown = _json("show", "coral_usb")
    assert shown["peak"]["int8"]["source"]
    report = _json("validate")
    coral = [p for p in report["points"] if p["device"] == "coral_usb" and p["kind"] == "calibration"]
    assert len(coral) > 2 and all(p["loo_error"] is not None for p in coral)  # each predicted from the others
    summary = report["devices"]["coral_usb"]
    median = statistics.median(abs(p["loo_error"]) for p in coral)
    assert summary["loo_median_abs_error"] == pytest.approx(median)
    excluded = [p for p in report["points"] if p["kind"] == "excluded"]
    assert excluded and all(p["excluded"] and p["loo_error"] is None for p in excluded)  # with a reason
    assert all(p["excluded"] is None for p in report["points"] if p["kind"] != "excluded")
    assert report["overall"]["loo_median_abs_error"] <= 0.20  # the calibration target (issue 4)
    assert report["devices"]["hailo8"]["note"]  # where and why a device still misses


def test_validate_and_show_tables_render():
    validated = runner.invoke(app, ["hardware", "validate"])
    assert validated.exit_code == 0
    assert "leave-one-out:" in validated.output and "worst factor" in validated.output
    shown = runner.invoke(app, ["hardware", "show", "hailo8"])
    assert shown.exit_code == 0 and "peak.int8" in shown.output


def test_show_prints_citation_keys_in_brackets_verbatim():
    # the terminal renderer must not take "[coral-usb-ds]" for markup and drop it
    shown = runner.invoke(app, ["hardware", "show", "coral_usb"], env={"COLUMNS": "400"})
    assert shown.exit_code == 0 and "[coral-bench]" in shown.output


def test_throttled_prediction_is_slower_on_a_device_with_thermal_figures():
    cool = _json("predict", "rpi5_cpu", "ssdlite_mobilenet_v2_300")
    hot = _json("predict", "rpi5_cpu", "ssdlite_mobilenet_v2_300", "--throttled")
    assert hot["throttled"] and not cool["throttled"] and hot["latency_ms"] > cool["latency_ms"]
