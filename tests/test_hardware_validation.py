"""Guard rails on how well the hardware models predict what they were never fitted on, and the
structure that carries it (CPU int8 ISA, kernel libraries, DPU operators, frame legs). The figures
themselves are in benchmarks/hardware_validation.py."""

from __future__ import annotations

import pytest

from fleetsim.hardware.calibration import validate_catalog
from fleetsim.hardware.fit import (
    INT8_GAIN_REALISED,
    _precision_offset,
    device_fit,
    host_fit,
    library_speedup,
    point_terms,
)
from fleetsim.hardware.inference import FRAME_LEGS, frame_legs, inference_cost
from fleetsim.hardware.roofline import call_terms

VALIDATION_MEDIAN_BOUND = 0.165
"""Validation median |error| today 16.3 % over 65 points (16.1 % before the Xavier's MLPerf batches and
MaxQ clocks, 17.2 % before idein's numpy harness was priced as such, 23.4 % before the Kria's
depthwise engine, 25.3 % when the calibration_points.csv rows left validation, 27.5 % over the 89
points before; 37 % before issue 16); the target is 20 %."""
VALIDATION_WORST_BOUND = 3.6
"""Worst validation factor today 3.54x (Hailo-8 ResNet-50 hw latency; 5.62x over the 89 points before
the calibration_points.csv rows left validation, 44.6x before issue 16); the target is 2x."""
VALIDATION_BEYOND_2X = 3
"""Validation points beyond 2x today, all Hailo-8 (4 before the Xavier's SSD-MobileNet SingleStream was
predicted with its Offline points at their MLPerf batches, 5 before idein's numpy harness, 16 of 89
before); the target is none."""
VALIDATION_POINTS = 65
"""Validation points: every published point that is not a calibration_points.csv row (89 before the
24 rows among them moved to calibration)."""
LOO_MEDIAN_BOUND = 0.15


@pytest.fixture(scope="module")
def report(catalog):
    return validate_catalog(catalog)


def test_validation_and_leave_one_out_do_not_regress(report):
    overall = report["overall"]
    assert overall["validation_points"] >= VALIDATION_POINTS and overall["excluded_points"] <= 4  # none new
    assert overall["validation_median_abs_error"] <= VALIDATION_MEDIAN_BOUND
    assert overall["validation_worst_ratio"] <= VALIDATION_WORST_BOUND
    assert overall["loo_median_abs_error"] <= LOO_MEDIAN_BOUND
    beyond = [p for p in report["points"] if p["kind"] == "validation"
              and max(p["predicted_ms"] / p["published_ms"], p["published_ms"] / p["predicted_ms"]) > 2]
    assert len(beyond) <= VALIDATION_BEYOND_2X


def test_dot_product_cpus_expect_more_of_their_int8_peak_than_widening_ones(catalog):
    assert INT8_GAIN_REALISED["arm_dot_product"] > INT8_GAIN_REALISED["arm_widening"]
    pi5, pi4 = catalog.device("rpi5_cpu"), catalog.device("rpi4_cpu")
    # prior of log(efficiency[int8] / efficiency[fp32]): closer to 0 (the peak's advantage realised) with SDOT
    assert _precision_offset(pi5, "int8", "fp32") > _precision_offset(pi4, "int8", "fp32")


def test_int8_is_faster_than_fp32_on_a_pi5_for_efficientdet(catalog):
    pi5, lite0 = catalog.device("rpi5_cpu"), catalog.profile("efficientdet_lite0_320")
    int8 = inference_cost(pi5, lite0, "int8", catalog).latency_s
    fp32 = inference_cost(pi5, lite0, "fp32", catalog).latency_s
    assert int8 < fp32


def test_a_point_on_another_kernel_library_runs_its_mac_layers_faster(catalog):
    pi5 = catalog.device("rpi5_cpu")
    xnnpack = next(p for p in pi5.validation if p.kernel_library == "xnnpack")
    assert library_speedup(pi5, xnnpack) == pytest.approx(1.3)
    default = xnnpack.model_copy(update={"kernel_library": None})
    fast, slow = point_terms(pi5, xnnpack, catalog).terms, point_terms(pi5, default, catalog).terms
    assert fast.compute_s[fast.mac].sum() == pytest.approx(slow.compute_s[slow.mac].sum() / 1.3)
    assert fast.compute_s[~fast.mac].sum() == pytest.approx(slow.compute_s[~slow.mac].sum())


def test_the_kria_dpu_runs_yolo_upsampling_itself(catalog):
    kria = catalog.device("kria_kv260")
    assert "resize" in kria.operators
    yolo = catalog.profile("yolov3_416")
    terms = call_terms(kria, yolo, "int8", catalog, host_fit=host_fit(kria, yolo, catalog))
    assert terms.fallback_layers == 1  # only the detection post-processing (NMS) runs on the Arm cores


def test_frame_legs_add_up_and_overlap_across_frames_on_an_accelerator(catalog):
    coral = catalog.device("coral_usb")
    workload = catalog.profile("ssd_mobilenet_v2_300")
    legs = frame_legs(coral, workload, "int8", catalog, camera_pixels=1920 * 1080)
    parts = legs.as_dict()
    assert list(parts) == list(FRAME_LEGS) and all(v >= 0 for v in parts.values())
    assert legs.latency_s == pytest.approx(sum(parts.values()))
    assert legs.capture_s > 0 and legs.preprocess_s > 0 and legs.transfer_s > 0
    assert legs.interval_s < legs.latency_s  # host and accelerator work on different frames at once
    cpu = frame_legs(catalog.device("rpi5_cpu"), workload, "int8", catalog)
    assert cpu.capture_s == 0 and cpu.interval_s == pytest.approx(cpu.latency_s - cpu.capture_s)


def test_pipeline_points_are_predicted_with_their_host_work(catalog, report):
    pipeline = [p for p in report["points"] if p["scope"] == "pipeline" and p["kind"] == "validation"]
    assert pipeline
    kria = catalog.device("kria_kv260")
    point = next(p for p in kria.validation if p.scope == "pipeline" and p.latency is not None)
    terms = point_terms(kria, point, catalog)
    assert terms.preprocess_s > 0 and terms.host_pipeline_s(device_fit(kria, catalog)) > 0


def test_validation_holds_no_calibration_row(catalog):
    """shared/reference: fit on every calibration_points.csv row, validate on every other point."""
    for device_id in catalog.device_ids():
        for point in catalog.devices[device_id].validation:
            assert "not in calibration_points.csv" in point.source, (device_id, point.workload)


def test_kria_depthwise_layers_run_on_the_dpu_depthwise_engine(catalog):
    kria = catalog.device("kria_kv260")
    assert kria.depthwise_peak.value == pytest.approx(kria.peak["int8"].value / 32)
    mobilenet = catalog.profile("mobilenet_v2_224")
    terms = call_terms(kria, mobilenet, "int8", catalog)
    dense = kria.model_copy(update={"depthwise_peak": None})
    plain = call_terms(dense, mobilenet, "int8", catalog)
    assert terms.compute_s[terms.depthwise] == pytest.approx(32 * plain.compute_s[plain.depthwise])
    assert terms.compute_s[~terms.depthwise] == pytest.approx(plain.compute_s[~plain.depthwise])


@pytest.mark.parametrize("device_id", ["kria_kv260", "jetson_orin_nano", "hailo8"])
def test_a_fitted_pipeline_point_prices_the_host_legs_the_simulation_runs(catalog, device_id):
    device = catalog.device(device_id)
    point = next(p for p in device.calibration if p.scope == "pipeline" and p.latency is not None)
    terms, fit = point_terms(device, point, catalog), device_fit(device, catalog)
    legs = frame_legs(device.model_copy(update={"host_link": point.host_link or device.host_link}),
                      catalog.profile(point.workload), point.precision, catalog, host=point.host)
    assert terms.host_pipeline_s(fit) == pytest.approx(legs.preprocess_s + legs.handoff_s, rel=1e-9)
