"""Units at the YAML boundary, the hardware catalog, and the cost models' known answers."""

from __future__ import annotations

import pytest

from fleetsim.errors import ScenarioError
from fleetsim.hardware.catalog import load_catalog
from fleetsim.hardware.inference import fitted_efficiency, inference_cost
from fleetsim.hardware.training import training_cost
from fleetsim.scenario.loader import load_scenario
from fleetsim.scenario.units import QuantityError, format_quantity, parse_quantity
from tests.conftest import ROOT


@pytest.mark.parametrize("text, kind, si", [
    ("30 Hz", "frequency", 30.0),
    ("50 Mbit/s", "data_rate", 6.25e6),
    ("20 ms", "time", 0.02),
    ("2 W", "power", 2.0),
    ("2 h", "time", 7200.0),
    ("200 kB", "data_size", 2e5),
    ("1 GiB", "data_size", 2**30),
    ("4 TOPS", "compute_rate", 4e12),
    ("1.5 kWh", "energy", 5.4e6),
    ("2.5 USD/h", "price_rate", 2.5 / 3600),
])
def test_quantities_parse_to_si(text, kind, si):
    assert parse_quantity(text, kind) == pytest.approx(si)
    assert parse_quantity(format_quantity(parse_quantity(text, kind), kind), kind) == \
        parse_quantity(text, kind)


@pytest.mark.parametrize("text, kind, fragment", [
    ("30", "time", "has no unit"),
    (30, "time", "has no unit"),
    ("30 furlongs", "time", "unknown unit"),
    ("30 Hz", "data_rate", "is not a data rate"),
    ("1e400 s", "time", "not finite"),
    (None, "time", "expected a quantity string"),
])
def test_bad_quantities_say_what_is_allowed(text, kind, fragment):
    with pytest.raises(QuantityError, match=fragment) as err:
        parse_quantity(text, kind)
    assert "allowed:" in str(err.value)


def test_every_scenario_file_validates(catalog):
    files = sorted((ROOT / "scenarios").rglob("*.yaml"))
    assert files
    for path in files:
        load_scenario(path, catalog)


def test_every_hardware_number_has_a_source(catalog):
    for device in catalog.devices.values():
        for peak in device.peak.values():
            assert peak.source.strip()
        assert device.active_power.source and device.idle_power.source
    for workload in catalog.workloads.values():
        assert workload.macs.source and workload.params.source


def test_hardware_number_without_source_is_rejected(tmp_path):
    for sub in ("edge", "cloud", "workloads"):
        (tmp_path / sub).mkdir()
    text = (ROOT / "hardware_models" / "workloads" / "mobilenet_v2_224.yaml").read_text()
    broken = text.replace("params:\n  value", "params:\n  valeu", 1)
    (tmp_path / "workloads" / "mobilenet_v2_224.yaml").write_text(broken)
    with pytest.raises(ScenarioError, match=r"mobilenet_v2_224.yaml:\d+: params"):
        load_catalog(tmp_path)


def test_efficiency_fit_reproduces_a_single_calibration_point(catalog):
    device = catalog.devices["rpi4_cpu"]
    points = [p for p in device.calibration if p.precision == "int8"]
    assert len(points) == 1
    cost = inference_cost(device, catalog.workload(points[0].workload), "int8", catalog)
    assert cost.latency_s == pytest.approx(points[0].latency, rel=1e-12)
    assert cost.energy_j == pytest.approx(cost.latency_s * device.active_power.value)
    assert 0 < fitted_efficiency(device, "int8", catalog) <= 1


def test_training_cost_known_answer(catalog):
    device, workload = catalog.devices["a100"], catalog.workloads["ssd_mobilenet_v2_300"]
    cost = training_cost(device, workload, chips=2, mfu=0.25, pue=1.1, startup_s=60.0,
                         samples=1000, epochs=3)
    flops = 3 * 2 * workload.macs.value * 1000 * 3
    compute = flops / (2 * device.peak["bf16"].value * 0.25)
    assert cost.flops == pytest.approx(flops)
    assert cost.duration_s == pytest.approx(60.0 + compute)
    energy = 2 * (device.active_power.value * compute + device.idle_power.value * 60.0) * 1.1
    assert cost.energy_j == pytest.approx(energy)
    assert cost.cost_usd == pytest.approx(2 * device.hourly_price.value * (60.0 + compute))


def test_every_measurement_point_names_a_known_workload(catalog):
    for device in catalog.devices.values():
        for point in (*device.calibration, *device.validation):
            assert point.workload in catalog.workloads, f"{device.id}: unknown workload {point.workload}"
            assert point.precision in device.peak, f"{device.id}: no peak at {point.precision}"
