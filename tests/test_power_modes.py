"""Named operating points (Jetson nvpmodel modes): clocks scale the device, fits carry over, the
published points that state a mode are predicted at it; and cache-resident layers' memory term."""

from __future__ import annotations

import pytest

from fleetsim.errors import FleetsimError
from fleetsim.hardware.catalog import load_catalog
from fleetsim.hardware.fit import device_fit, point_terms
from fleetsim.hardware.inference import inference_cost
from fleetsim.hardware.power_modes import at_power_mode
from fleetsim.hardware.roofline import call_terms, evaluate
from fleetsim.hardware.specs import DeviceSpec


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_stated_mode_is_the_device_itself(catalog):
    orin = catalog.device("jetson_orin_nano")
    assert at_power_mode(orin, None) is orin
    assert at_power_mode(orin, orin.power_mode.value) is orin


def test_a_mode_scales_peaks_by_its_gpu_clock_and_memory_by_its_memory_clock(catalog):
    orin = catalog.device("jetson_orin_nano")
    slow = at_power_mode(orin, "mode_7w")
    ratio = 420 / 625
    for precision, peak in orin.peak.items():
        assert slow.peak[precision].value == pytest.approx(peak.value * ratio)
    assert slow.memory_bandwidth.value == orin.memory_bandwidth.value  # same 2133 MHz EMC
    assert slow.active_power.value == 7.0 and slow.power_mode.value == "mode_7w"
    fast = at_power_mode(orin, "maxn_super")
    assert fast.memory_bandwidth.value == pytest.approx(orin.memory_bandwidth.value * 3200 / 2133)


def test_a_mode_keeps_the_fit_and_runs_slower_at_lower_clocks(catalog):
    orin = catalog.device("jetson_orin_nano")
    workload = catalog.profile("yolov8n_640")
    stated = inference_cost(orin, workload, "int8", catalog)
    slow = inference_cost(at_power_mode(orin, "mode_7w"), workload, "int8", catalog)
    assert device_fit(at_power_mode(orin, "mode_7w"), catalog) is device_fit(orin, catalog)
    assert stated.latency_s < slow.latency_s < stated.latency_s * 625 / 420 * 1.001
    assert slow.energy_j / slow.latency_s < stated.energy_j / stated.latency_s


@pytest.mark.parametrize("device_id, lowest, highest", [
    ("jetson_agx_orin", 1300 / 624.75, 2200 / 576),  # GPU clock on the layers, CPU clock on the launches
    ("jetson_agx_xavier", 1377 / 828.75, 2200 / 1190.4),
])
def test_a_point_that_states_its_mode_is_predicted_at_it(catalog, device_id, lowest, highest):
    device = catalog.device(device_id)
    maxq = next(p for p in [*device.calibration, *device.validation] if p.power_mode == "maxq_singlestream")
    fit = device_fit(device, catalog)
    at_mode = point_terms(device, maxq, catalog)
    at_maxn = point_terms(device, maxq.model_copy(update={"power_mode": None}), catalog)
    slower = (at_mode.seconds_per_inference(evaluate(device, at_mode.terms, fit), fit)
              / at_maxn.seconds_per_inference(evaluate(device, at_maxn.terms, fit), fit))
    assert lowest < slower < highest


def test_unknown_mode_is_one_line_naming_the_allowed(catalog):
    with pytest.raises(FleetsimError, match=r"jetson_orin_nano: unknown power_mode 'turbo' \(allowed: "
                                            r"mode_15w, mode_7w, maxn_super\)"):
        at_power_mode(catalog.device("jetson_orin_nano"), "turbo")


def test_device_file_must_state_its_mode(catalog):
    data = catalog.device("jetson_orin_nano").model_dump(mode="json", exclude_none=True)
    data.pop("power_mode")
    with pytest.raises(ValueError, match="power_mode must name the mode"):
        DeviceSpec.model_validate(data)


def test_cache_resident_layers_pay_the_cache_bandwidth(catalog):
    epyc = catalog.device("amd_epyc_avx512_vnni")
    workload = catalog.profile("mobilenet_v2_224")
    cached = call_terms(epyc, workload, "fp32", catalog).memory_s
    uncached = call_terms(epyc.model_copy(update={"cache_bytes": None, "cache_bandwidth": None}),
                          workload, "fp32", catalog).memory_s
    ratio = epyc.memory_bandwidth.value / epyc.cache_bandwidth.value
    assert cached == pytest.approx(uncached * ratio)  # every layer of MobileNet v2 fits 32 MiB
    data = epyc.model_dump(mode="json", exclude_none=True)
    data.pop("cache_bandwidth")
    with pytest.raises(ValueError, match="cache_bytes and cache_bandwidth go together"):
        DeviceSpec.model_validate(data)


@pytest.mark.slow
def test_a_group_runs_its_accelerator_at_the_power_mode_it_names(catalog):
    """The scenario's fleet.groups[].power_mode reaches the vehicles: slower inference, less power."""
    import fleetsim
    from fleetsim.scenario.models import Scenario
    from tests.conftest import small_scenario_data, with_overrides

    def group_row(mode):
        data = with_overrides(small_scenario_data(), fleet__groups__0__accelerator="jetson_orin_nano",
                              fleet__groups__0__power_mode=mode, simulation__duration="1 min",
                              cloud__retraining={"kind": "never"})
        vehicles = fleetsim.run(Scenario.model_validate(data), catalog=catalog).tables["vehicles"]
        return vehicles.query("group == 'coral'").iloc[0]

    stated, slow = group_row(None), group_row("mode_7w")
    assert slow["inference_latency_s"] > stated["inference_latency_s"]
