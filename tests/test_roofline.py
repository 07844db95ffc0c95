"""The per-layer roofline inference model and its fit: known answers on hand-made devices."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from fleetsim.errors import FleetsimError, ScenarioError
from fleetsim.hardware.catalog import Catalog, check_references
from fleetsim.hardware.fit import (
    THROUGHPUT_BATCH,
    PointTerms,
    device_fit,
    fit_points,
    point_terms,
    preprocess_s,
)
from fleetsim.hardware.roofline import DeviceFit, call_terms, evaluate, executed_layers, fused_layers
from fleetsim.hardware.specs import CalibrationPoint, DeviceSpec, WorkloadSpec
from fleetsim.hardware.workload import Layer, Workload

SRC = {"source": "test figure"}
FIT = DeviceFit(efficiency={"int8": 0.5, "fp32": 0.25}, depthwise=0.2, layer_overhead_s=1e-5)


def _device(**fields) -> DeviceSpec:
    base = dict(schema_version=1, id="chip", name="test chip", kind="edge", accelerator_class="npu",
                peak={"int8": {"value": "1 TOPS", **SRC}, "fp32": {"value": "0.25 TOPS", **SRC}},
                active_power={"value": "2 W", **SRC}, idle_power={"value": "0.5 W", **SRC})
    return DeviceSpec.model_validate({**base, **fields})


def _workload(*layers: Layer, side: int = 10) -> Workload:
    spec = WorkloadSpec(schema_version=1, id="net", name="net", input_size=side,
                        macs={"value": float(sum(x.macs for x in layers) or 1), **SRC},
                        params={"value": float(sum(x.weights for x in layers) or 1), **SRC})
    return Workload(spec, layers, per_layer=True)


def _catalog(*devices: DeviceSpec) -> Catalog:
    return Catalog(devices={d.id: d for d in devices}, workloads={}, root=Path("."))


CONV = Layer("conv", "conv", macs=10**9, weights=1000, inputs=300, outputs=800)
DEPTHWISE = Layer("dw", "depthwise_conv", macs=10**8, weights=90, inputs=800, outputs=800)
NMS = Layer("nms", "nms", 0, 0, 4000, 0)


def _cost(device, workload, fit=FIT, batch=1, precision="int8", throttled=False, catalog=None):
    terms = call_terms(device, workload, precision, catalog or _catalog(device), batch)
    return evaluate(device, terms, fit, throttled)


def test_compute_bound_layers_follow_peak_efficiency_and_class_factor():
    cost = _cost(_device(call_overhead={"value": "1 ms", **SRC}), _workload(CONV, DEPTHWISE))
    conv_s = 2e9 / (1e12 * 0.5)
    dw_s = 2e8 / (1e12 * 0.5 * 0.2)
    assert cost.latency_s == pytest.approx(1e-3 + conv_s + dw_s + 2 * 1e-5, rel=1e-12)
    assert cost.energy_j == pytest.approx(2.0 * cost.latency_s)
    assert cost.memory_bound_layers == 0


def test_memory_bound_layer_takes_bytes_over_bandwidth():
    big = Layer("fc", "matmul", macs=10**6, weights=10**8, inputs=10, outputs=10)
    cost = _cost(_device(memory_bandwidth={"value": "10 GB/s", **SRC}), _workload(big))
    assert cost.latency_s == pytest.approx((1e8 + 20) / 1e10 + 1e-5, rel=1e-12)
    assert cost.memory_bound_layers == 1


def test_weights_beyond_on_chip_memory_stream_over_the_host_link_every_inference():
    heavy = Layer("conv", "conv", macs=10**6, weights=10 * 10**6, inputs=300, outputs=10)
    device = _device(on_chip_memory={"value": "8 MB", **SRC},
                     host_link={"kind": "usb3", "bandwidth": {"value": "100 MB/s", **SRC}})
    one, four = _cost(device, _workload(heavy)), _cost(device, _workload(heavy), batch=4)
    assert one.spill_s == pytest.approx(2e6 / 1e8)
    assert one.transfer_s == pytest.approx((300 + 10) / 1e8)  # int8 input image and output, 1 B each
    assert four.spill_s == pytest.approx(4 * one.spill_s)
    assert four.transfer_s == pytest.approx(4 * one.transfer_s)


def test_unsupported_operator_and_everything_after_run_on_the_host_cpu():
    host = _device(id="host", accelerator_class="cpu", active_power={"value": "5 W", **SRC})
    device = _device(operators=["conv", "depthwise_conv"], host_cpu="host")
    catalog = _catalog(device, host)
    tail = Layer("after", "conv", macs=10**7, weights=10, inputs=10, outputs=10)
    prior = device_fit(host, catalog)  # the host priced with its own (prior-only) fit
    terms = call_terms(device, _workload(CONV, NMS, tail), "int8", catalog, host_fit=prior)
    rate = 1e12 * prior.efficiency["int8"]
    assert terms.fallback_layers == 2 and len(terms.compute_s) == 1
    assert terms.fallback_s == pytest.approx(2e7 / rate + 2 * prior.layer_overhead_s, rel=1e-12)
    # nms reads its 4000 box codes and the 800 scores the device hands over, at 1 op each
    assert terms.host_postprocess_s == pytest.approx((4000 + 800) / rate, rel=1e-12)
    cost = evaluate(device, terms, FIT)
    host_s = terms.fallback_s + FIT.postprocess * terms.host_postprocess_s
    assert cost.fallback_s == pytest.approx(host_s, rel=1e-12)
    assert cost.energy_j == pytest.approx(2.0 * (cost.latency_s - cost.fallback_s) + 5.0 * cost.fallback_s)


def test_nms_on_the_device_reads_the_scores_and_costs_postprocess_ops_per_element():
    fit = DeviceFit(efficiency={"int8": 0.5, "fp32": 0.25}, depthwise=0.2, layer_overhead_s=0.0,
                    postprocess=50.0)
    cost = _cost(_device(), _workload(CONV, NMS), fit)
    assert cost.latency_s == pytest.approx(2e9 / 5e11 + 50.0 * (4000 + 800) / 5e11, rel=1e-12)


def test_pointwise_layers_fold_into_the_conv_they_follow():
    relu = Layer("relu", "activation", 0, 0, 800, 800)
    add = Layer("add", "elementwise", 0, 0, 1600, 800)  # residual add: reads the skip tensor too
    pool = Layer("pool", "pooling", 0, 0, 800, 200)
    fused = fused_layers((CONV, relu, add, pool, relu))
    assert [x.name for x in fused] == ["conv+relu+add", "pool", "relu"]  # the last relu follows a pool
    assert fused[0].inputs == 300 + 800 and fused[0].outputs == 800 and fused[0].macs == CONV.macs
    device = _device(memory_bandwidth={"value": "1 GB/s", **SRC})
    plain, with_pointwise = _cost(device, _workload(CONV)), _cost(device, _workload(CONV, relu, add))
    assert with_pointwise.overhead_s == pytest.approx(plain.overhead_s)  # one kernel launch, not three


def test_a_cpus_int8_graph_keeps_its_element_wise_layers_apart():
    """ONNX Runtime's QDQ int8 graphs run residual adds and SiLU's multiply as QLinearAdd /
    QLinearMul nodes of their own; activations still fold, and fp32 or another class fuse as before."""
    relu = Layer("relu", "activation", 0, 0, 800, 800)
    add = Layer("add", "elementwise", 0, 0, 1600, 800)
    workload = _workload(CONV, relu, add)
    cpu = _device(accelerator_class="cpu")
    assert [x.name for x in executed_layers(cpu, workload, "int8")] == ["conv+relu", "add"]
    assert [x.name for x in executed_layers(cpu, workload, "fp32")] == ["conv+relu+add"]
    assert [x.name for x in executed_layers(_device(), workload, "int8")] == ["conv+relu+add"]
    fit = DeviceFit(efficiency={"int8": 0.5, "fp32": 0.25}, depthwise=0.2, layer_overhead_s=1e-5,
                    light_overhead=0.25)
    assert _cost(cpu, workload, fit).overhead_s == pytest.approx(1e-5 + 0.25e-5)  # the add: a light layer


def test_multi_context_device_pays_switches_and_weight_reloads_per_call():
    link = {"kind": "pcie", "bandwidth": {"value": "1 GB/s", **SRC}}
    device = _device(multi_context={"value": True, **SRC}, host_link=link)
    fit = DeviceFit(efficiency={"int8": 0.5, "fp32": 0.25}, depthwise=0.2, layer_overhead_s=0.0,
                    context_switch_s=1e-3, context_layers=10.0, context_bytes=1e9)
    small, big = _workload(*[CONV] * 5), _workload(*[CONV] * 30)
    assert _cost(device, small, fit).latency_s == pytest.approx(_cost(_device(host_link=link), small, fit)
                                                                .latency_s, rel=1e-6)
    terms = call_terms(device, big, "int8", _catalog(device))
    switches = 30 / 10 + 30 * 1000 / 1e9 - 1  # three contexts' worth of layers: two switches per call
    expected = switches * 1e-3 + 30 * 1000 / 1e9  # and every context's weights reloaded once
    assert terms.context_s(fit) == pytest.approx(expected, rel=1e-6)
    batched = call_terms(device, big, "int8", _catalog(device), batch=4)
    assert batched.context_s(fit) == pytest.approx(expected, rel=1e-6)  # once per call, not per inference


def test_multi_context_needs_a_host_link():
    device = _device(multi_context={"value": True, **SRC})
    with pytest.raises(FleetsimError, match="multi_context needs a host_link"):
        call_terms(device, _workload(CONV), "int8", _catalog(device))


def test_unsupported_operator_without_a_host_is_a_clear_error():
    device = _device(operators=["conv"])
    with pytest.raises(FleetsimError, match="cannot run nms layers of net and names no host_cpu"):
        call_terms(device, _workload(CONV, NMS), "int8", _catalog(device))


def test_batch_pays_the_call_overhead_once():
    device = _device(call_overhead={"value": "2 ms", **SRC})
    one, eight = _cost(device, _workload(CONV)), _cost(device, _workload(CONV), batch=8)
    assert eight.latency_s - 2e-3 == pytest.approx(8 * (one.latency_s - 2e-3) - 7 * 1e-5, rel=1e-12)


def test_thermal_throttling_slows_compute_by_the_sustained_fraction():
    device = _device(thermal={"time_to_throttle": {"value": "5 min", **SRC},
                              "sustained_fraction": {"value": 0.5, **SRC}})
    fresh, hot = _cost(device, _workload(CONV)), _cost(device, _workload(CONV), throttled=True)
    assert hot.layers_s == pytest.approx(2 * fresh.layers_s)


def test_fit_recovers_the_parameters_that_generated_the_measurements():
    device = _device()
    catalog = _catalog(device)
    truth = DeviceFit(efficiency={"int8": 0.4, "fp32": 0.3}, depthwise=0.1, layer_overhead_s=2e-5,
                      light_overhead=0.25)
    tiny = Layer("relu", "activation", 0, 0, 100, 100)
    small = Layer("small", "conv", 100, 10, 10, 10)  # its overhead, not its MACs, sets its time
    shapes = [(CONV,), (CONV, DEPTHWISE), (DEPTHWISE,) * 5, (CONV,) * 3 + (DEPTHWISE,) * 40, (tiny,) * 300,
              (small,) * 300]
    points = []
    for layers in shapes:
        workload = _workload(*layers)
        for precision in ("int8", "fp32"):
            latency = _cost(device, workload, truth, precision=precision).latency_s
            point = CalibrationPoint(workload="net", precision=precision, latency=f"{latency} s",
                                     source="test")
            points.append(PointTerms(point, call_terms(device, workload, precision, catalog), 1, False))
    exact = fit_points(device, points, measurement_sigma=1e-4)  # noise-free points outweigh the priors
    assert exact.efficiency["int8"] == pytest.approx(0.4, rel=1e-3)
    assert exact.efficiency["fp32"] == pytest.approx(0.3, rel=1e-3)
    assert exact.depthwise == pytest.approx(0.1, rel=1e-3)
    assert exact.layer_overhead_s == pytest.approx(2e-5, rel=1e-3)
    assert exact.light_overhead == pytest.approx(0.25, rel=1e-3)
    default = fit_points(device, points)  # 25 % scatter assumed: the priors pull, predictions stay close
    for p in points:
        assert evaluate(device, p.terms, default).latency_s == pytest.approx(p.point.latency, rel=0.06)


def test_throughput_points_are_predicted_at_steady_state():
    device = _device(call_overhead={"value": "5 ms", **SRC})
    catalog = _catalog(device)
    catalog.memo[("profile", "net")] = _workload(CONV)
    point = CalibrationPoint(workload="net", precision="int8", throughput="100 fps", source="test")
    terms = point_terms(device, point, catalog)
    per_inference = terms.seconds_per_inference(evaluate(device, terms.terms, FIT), FIT)
    assert per_inference == pytest.approx(2e9 / 5e11 + 1e-5 / terms.batch, rel=1e-12)  # no call overhead
    assert point.seconds_per_inference == pytest.approx(0.01)
    assert terms.batch == THROUGHPUT_BATCH


def test_throughput_measured_at_a_stated_batch_is_predicted_at_it():
    device = _device(call_overhead={"value": "5 ms", **SRC})
    catalog = _catalog(device)
    catalog.memo[("profile", "net")] = _workload(CONV)
    point = CalibrationPoint(workload="net", precision="int8", throughput="100 fps", batch=1, source="test")
    terms = point_terms(device, point, catalog)
    per_inference = terms.seconds_per_inference(evaluate(device, terms.terms, FIT), FIT)
    assert terms.batch == 1
    assert per_inference == pytest.approx(2e9 / 5e11 + 1e-5, rel=1e-12)  # the layer overhead is not amortised


def test_streaming_throughput_is_set_by_the_slowest_stage_not_their_sum():
    device = _device(host_link={"kind": "pcie", "bandwidth": {"value": "100 kB/s", **SRC}})
    catalog = _catalog(device)
    workload = catalog.memo[("profile", "net")] = _workload(CONV)
    stream = CalibrationPoint(workload="net", precision="int8", throughput="100 fps", batch=1, source="test")
    single = CalibrationPoint(workload="net", precision="int8", latency="10 ms", source="test")
    stream_terms, single_terms = point_terms(device, stream, catalog), point_terms(device, single, catalog)
    cost = evaluate(device, stream_terms.terms, FIT)
    compute_s, transfer_s = 2e9 / 5e11 + 1e-5, (workload.input_elements + CONV.outputs) / 1e5
    assert transfer_s > compute_s  # the host link is the bottleneck stage
    assert stream_terms.seconds_per_inference(cost, FIT) == pytest.approx(transfer_s, rel=1e-12)
    latency = single_terms.seconds_per_inference(evaluate(device, single_terms.terms, FIT), FIT)
    assert latency == pytest.approx(compute_s + transfer_s, rel=1e-12)  # a latency adds the stages


def test_fitted_efficiencies_never_exceed_peak():
    device = _device()
    catalog = _catalog(device)
    workload = _workload(CONV)
    points = []
    for precision in ("int8", "fp32"):  # measured faster than the peak allows
        terms = call_terms(device, workload, precision, catalog)
        point = CalibrationPoint(workload="net", precision=precision,
                                 latency=f"{0.5 * float(terms.compute_s.sum())} s", source="test")
        points.append(PointTerms(point, terms, 1, False))
    fitted = fit_points(device, points)
    assert max(fitted.efficiency.values()) <= 1.0 + 1e-12
    assert fitted.efficiency["int8"] == pytest.approx(1.0, rel=1e-6)


def test_fp32_convolutions_run_at_the_tf32_peak_when_the_gpu_has_one():
    relu = Layer("act", "activation", 0, 0, 800, 800)
    pool = Layer("pool", "pooling", 0, 0, 800, 200)
    plain, tf32 = _device(), _device(tf32_peak={"value": "1 TOPS", **SRC})
    fit = DeviceFit(efficiency={"int8": 0.5, "fp32": 0.5}, depthwise=0.2, layer_overhead_s=0.0)
    slow, fast = (_cost(d, _workload(CONV, relu, pool), fit, precision="fp32") for d in (plain, tf32))
    assert slow.layers_s == pytest.approx((2e9 + 1000) / (0.25e12 * 0.5), rel=1e-12)
    assert fast.layers_s == pytest.approx(2e9 / (1e12 * 0.5) + 1000 / (0.25e12 * 0.5), rel=1e-12)
    int8 = _cost(tf32, _workload(CONV), fit)  # other precisions keep their own peak
    assert int8.layers_s == pytest.approx(2e9 / (1e12 * 0.5), rel=1e-12)


@pytest.mark.parametrize("fields, fragment", [
    ({"latency": "1 ms", "throughput": "10 fps"}, "exactly one of latency or throughput"),
    ({}, "exactly one of latency or throughput"),
    ({"latency": "1 ms", "harness": "numpy", "raw_outputs": True}, "harness only with scope: pipeline"),
    ({"latency": "1 ms", "scope": "pipeline", "harness": "numpy"},
     "harness: numpy only with raw_outputs: true"),
    ({"latency": "1 ms", "scope": "pipeline", "raw_outputs": True},
     "raw_outputs on a pipeline point only with harness: numpy"),
])
def test_bad_measurement_points_are_rejected(fields, fragment):
    with pytest.raises(ValueError, match=fragment):
        CalibrationPoint(workload="net", precision="int8", source="test", **fields)


def test_a_pipeline_point_adds_host_preprocessing_at_the_fitted_ops_per_element():
    device = _device()
    catalog = _catalog(device)
    catalog.memo[("profile", "net")] = _workload(CONV)
    model = CalibrationPoint(workload="net", precision="int8", latency="1 ms", source="test")
    pipeline = model.model_copy(update={"scope": "pipeline"})
    bare, full = point_terms(device, model, catalog), point_terms(device, pipeline, catalog)
    cost = evaluate(device, full.terms, FIT)
    assert full.preprocess_s > 0 and bare.preprocess_s == 0
    heavier = DeviceFit(**{**FIT.__dict__, "preprocess": 1000 * FIT.preprocess})
    added = [full.seconds_per_inference(cost, fit) - bare.seconds_per_inference(cost, fit)
             for fit in (FIT, heavier)]
    assert added[0] == pytest.approx(full.host_pipeline_s(FIT)) and added[1] > added[0]
    assert _device(calibration=[pipeline]).calibration[0].scope == "pipeline"  # fitted like any point


def test_a_numpy_harness_point_prices_its_script_per_input_element_instead_of_preprocessing():
    device = _device()
    catalog = _catalog(device)
    workload = catalog.memo[("profile", "net")] = _workload(CONV, side=640)
    script = CalibrationPoint(workload="net", precision="int8", latency="50 ms", scope="pipeline",
                              harness="numpy", raw_outputs=True, source="test")
    terms = point_terms(device, script, catalog)
    assert terms.preprocess_s == 0 and terms.harness_elements == workload.input_elements
    slower = DeviceFit(**{**FIT.__dict__, "numpy_harness_s": 3 * FIT.numpy_harness_s})
    added = slower.numpy_harness_s * workload.input_elements - FIT.numpy_harness_s * workload.input_elements
    cost = evaluate(device, terms.terms, FIT)
    assert (terms.seconds_per_inference(cost, slower) - terms.seconds_per_inference(cost, FIT)
            == pytest.approx(added))
    fitted = fit_points(device, [terms])  # the slow script raises its cost per element above the prior
    assert fitted.numpy_harness_s > 2 * DeviceFit.numpy_harness_s


@pytest.mark.parametrize("host_cpu", [False, True], ids=["nms on the device", "nms on the host"])
def test_a_point_timed_at_the_raw_head_outputs_leaves_out_detection_postprocessing(host_cpu):
    host = _device(id="host", accelerator_class="cpu", peak={"fp32": {"value": "0.1 TOPS", **SRC}})
    device = _device(operators=["conv"], host_cpu="host") if host_cpu else _device()
    catalog = _catalog(device, host)
    catalog.memo[("profile", "net")] = _workload(CONV, NMS)
    catalog.memo[("profile", "bare")] = _workload(CONV)
    point = CalibrationPoint(workload="net", precision="int8", latency="5 ms", source="test")
    full = point_terms(device, point, catalog).terms
    raw = point_terms(device, point.model_copy(update={"raw_outputs": True}), catalog).terms
    bare = point_terms(device, point.model_copy(update={"workload": "bare"}), catalog).terms
    assert full.postprocess_mask.any() or full.host_postprocess_s > 0
    assert not raw.postprocess_mask.any() and raw.host_postprocess_s == 0 and raw.fallback_s == 0
    raw_s, bare_s, full_s = (evaluate(device, t, FIT).latency_s for t in (raw, bare, full))
    assert raw_s == pytest.approx(bare_s, rel=1e-12) and raw_s < full_s


def test_preprocessing_costs_the_fitted_ops_per_element_above_its_memory_floor():
    assert preprocess_s(FIT, 1e-6, 0.0, None) == pytest.approx(FIT.preprocess * 1e-6)
    assert preprocess_s(FIT, 1e-6, 0.0, "fp32") == pytest.approx(FIT.preprocess * 1e-6 / 0.25)  # device
    assert preprocess_s(FIT, 1e-6, 1.0, None) == 1.0  # the memory time of the frame bounds it below


def test_a_sequential_throughput_is_one_over_the_latency():
    device = _device(call_overhead={"value": "5 ms", **SRC})
    catalog = _catalog(device)
    catalog.memo[("profile", "net")] = _workload(CONV)
    loop = CalibrationPoint(workload="net", precision="int8", throughput="100 fps", sequential=True,
                            source="test")
    latency = CalibrationPoint(workload="net", precision="int8", latency="10 ms", source="test")
    loop_terms, latency_terms = point_terms(device, loop, catalog), point_terms(device, latency, catalog)
    assert not loop_terms.throughput and loop_terms.batch == 1
    assert (loop_terms.seconds_per_inference(evaluate(device, loop_terms.terms, FIT), FIT)
            == latency_terms.seconds_per_inference(evaluate(device, latency_terms.terms, FIT), FIT))


def test_unknown_host_cpu_lists_the_known_ones():
    host = _device(id="host", accelerator_class="cpu")
    device = _device(host_cpu="hots")
    with pytest.raises(ScenarioError, match="unknown host CPU 'hots' \\(allowed: host\\)"):
        check_references(_catalog(device, host))


def test_fit_with_no_points_falls_back_to_the_priors():
    fitted = fit_points(_device(), [])
    assert fitted.efficiency["int8"] == pytest.approx(0.3)
    assert math.isclose(fitted.layer_overhead_s, 5e-6)
    assert np.isfinite(list(fitted.efficiency.values())).all()


def test_throughput_points_count_the_dlas_and_latency_points_do_not():
    device = _device(accelerator_class="gpu", dla_peak={"value": "0.5 TOPS", **SRC})
    catalog = _catalog(device)
    catalog.memo[("profile", "net")] = _workload(CONV)
    offline = CalibrationPoint(workload="net", precision="int8", throughput="100 fps", batch=1, source="test")
    single = CalibrationPoint(workload="net", precision="int8", latency="10 ms", source="test")
    offline_terms, single_terms = point_terms(device, offline, catalog), point_terms(device, single, catalog)
    assert offline_terms.terms.compute_s.sum() == pytest.approx(2e9 / 1.5e12, rel=1e-12)  # GPU + DLAs
    assert single_terms.terms.compute_s.sum() == pytest.approx(2e9 / 1e12, rel=1e-12)  # the GPU alone


def test_a_device_left_with_no_points_borrows_the_level_of_its_class():
    from fleetsim.hardware.fit import class_prior

    point = {"workload": "net", "precision": "int8", "latency": "8 ms", "source": "test"}
    sibling = _device(id="sibling", accelerator_class="cpu", calibration=[point])
    lone = _device(id="lone", accelerator_class="cpu")
    catalog = _catalog(sibling, lone)
    catalog.memo[("profile", "net")] = _workload(CONV)
    borrowed = class_prior(lone, catalog)
    assert set(borrowed) == {"int8"}
    sibling_alone = fit_points(sibling, [point_terms(sibling, sibling.calibration[0], catalog)])
    assert math.exp(borrowed["int8"]) == pytest.approx(sibling_alone.efficiency["int8"], rel=1e-9)
    assert class_prior(sibling, catalog) == {}  # a device never sees its own points through the class
    fitted = device_fit(lone, catalog)
    assert fitted.efficiency["int8"] == pytest.approx(sibling_alone.efficiency["int8"], rel=1e-9)


def test_cpu_precision_prior_realises_half_the_peak_advantage():
    # int8 peak 4x fp32: with no points the fp32 prior efficiency is 4^0.5 = 2x the int8 one on a CPU
    cpu = fit_points(_device(accelerator_class="cpu"), [])
    assert cpu.efficiency["fp32"] == pytest.approx(2 * cpu.efficiency["int8"], rel=1e-12)
    npu = fit_points(_device(), [])  # other classes keep the same fraction of either peak
    assert npu.efficiency["fp32"] == pytest.approx(npu.efficiency["int8"], rel=1e-12)


def test_a_host_of_the_points_own_scales_link_time_and_adds_call_time():
    link = {"kind": "usb3", "bandwidth": {"value": "1 MB/s", **SRC}}
    host = _device(id="pi", accelerator_class="cpu")
    device = _device(host_link=link, host_cpu="pi", call_overhead={"value": "1 ms", **SRC})
    other = _device(id="other", accelerator_class="cpu")
    catalog = _catalog(device, host, other)
    workload = _workload(CONV)
    fit = DeviceFit(efficiency={"int8": 0.5, "fp32": 0.25}, depthwise=0.2, layer_overhead_s=0.0,
                    host_factor=2.0, host_call_s=3e-3)
    home = evaluate(device, call_terms(device, workload, "int8", catalog), fit)
    away = evaluate(device, call_terms(device, workload, "int8", catalog, host="other"), fit)
    assert away.transfer_s == pytest.approx(2 * home.transfer_s, rel=1e-12)
    assert away.latency_s - home.latency_s == pytest.approx(home.transfer_s + 3e-3, rel=1e-9)


def test_excluded_points_are_reported_with_their_reason_but_not_fitted():
    from fleetsim.hardware.calibration import check_device

    points = [{"workload": "net", "precision": "int8", "latency": "8 ms", "source": "test"},
              {"workload": "net", "precision": "int8", "latency": "80 ms", "source": "test",
               "excluded": "another runtime"}]
    device = _device(calibration=points)
    catalog = _catalog(device)
    catalog.memo[("profile", "net")] = _workload(CONV)
    checks = check_device(device, catalog)
    assert [c.kind for c in checks] == ["calibration", "excluded"]
    assert checks[1].excluded == "another runtime" and checks[1].loo_predicted_ms is None
    alone = fit_points(device, [point_terms(device, device.calibration[0], catalog)])
    assert device_fit(device, catalog) == alone  # the 80 ms point moved nothing
