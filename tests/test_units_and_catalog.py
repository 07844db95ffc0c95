"""Units at the YAML boundary, the hardware catalog, and the cost models' known answers."""

from __future__ import annotations

import math

import pytest
import yaml

from fleetsim.errors import ScenarioError
from fleetsim.hardware.catalog import load_catalog
from fleetsim.hardware.inference import inference_cost
from fleetsim.hardware.training import training_cost
from fleetsim.scenario.loader import load_scenario
from fleetsim.scenario.units import QuantityError, format_quantity, parse_quantity
from fleetsim.sweep import load_sweep, plan_sweep
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


def test_number_and_unit_read_as_pints_own_parser_reads_them():
    """The fast path of ``"NUMBER UNIT"`` gives pint's magnitude type, units and SI value, bit for bit."""
    from fleetsim.scenario.units import _REG, _quantity

    for number in ("20", "-4", "2.5", ".5", "3.", "1e3", "1.5E-9", "123456789012345678901"):
        for unit in ("ms", "s", "h", "kWh", "mW", "nJ/bit", "USD/h", "Mbit/s", "GiB", "TOPS", "km/h"):
            ours, pints = _quantity(f"{number} {unit}"), _REG.Quantity(f"{number} {unit}")
            assert type(ours.magnitude) is type(pints.magnitude) and ours.units == pints.units
            assert ours.to_base_units().magnitude == pints.to_base_units().magnitude


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


def test_every_scenario_and_sweep_file_validates(catalog):
    files = sorted((ROOT / "scenarios").rglob("*.yaml"))
    assert files
    for path in files:
        if "base" in yaml.safe_load(path.read_text(encoding="utf-8")):  # a sweep over a base scenario
            plan_sweep(load_sweep(path), catalog)
        else:
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


def test_fit_reproduces_a_device_with_a_single_calibration_point(catalog):
    device = catalog.devices["rpi4_cpu"]
    points = [p for p in device.calibration if p.precision == "int8"]
    cost = inference_cost(device, catalog.profile(points[0].workload), "int8", catalog)
    if len(points) == 1:
        assert cost.latency_s == pytest.approx(points[0].seconds_per_inference, rel=0.05)
    assert 0 < cost.efficiency <= 1


def test_training_cost_known_answer(catalog):
    device, workload = catalog.devices["a100"], catalog.profile("ssd_mobilenet_v2_300")
    cost = training_cost(device, workload, chips=2, mfu=0.25, pue=1.1, startup_s=60.0,
                         samples=100_000, epochs=3, checkpoint_interval_s=2.0, checkpoint_bandwidth=1e8)
    flops = 3 * 2 * workload.macs * 100_000 * 3
    compute = flops / (2 * device.peak["bf16"].value * 0.25)
    checkpoints = math.ceil(compute / 2.0)
    write = checkpoints * 12 * workload.spec.params.value / 1e8
    assert cost.flops == pytest.approx(flops) and cost.checkpoints == checkpoints > 1
    assert cost.duration_s == pytest.approx(60.0 + compute + write)
    energy = 2 * (device.active_power.value * compute + device.idle_power.value * (60.0 + write)) * 1.1
    assert cost.energy_j == pytest.approx(energy)
    assert cost.cost_usd == pytest.approx(2 * device.hourly_price.value * (60.0 + compute + write))


def test_every_cloud_device_has_sourced_training_figures_that_differ_by_family(catalog):
    fpga = [d for d in catalog.devices.values() if d.kind == "cloud" and d.accelerator_class == "fpga"]
    assert fpga and all(d.training is None and "bf16" not in d.peak for d in fpga)  # inference nodes only
    cloud = {d.id: d for d in catalog.devices.values() if d.kind == "cloud" and d.accelerator_class != "fpga"}
    for device in cloud.values():
        figures = device.training
        assert figures is not None, device.id
        assert 0 < figures.mfu.value <= 1 and figures.startup.value > 0
        assert "mlcommons" in figures.mfu.source.lower() or "proxy" in figures.mfu.source
    assert cloud["tpu_v4"].training.startup.value > 4 * cloud["h100"].training.startup.value  # XLA compile
    mfu = {name: device.training.mfu.value for name, device in cloud.items()}
    assert mfu["tpu_v4"] > mfu["a100"] > mfu["h100"]


def test_a_cluster_without_mfu_or_startup_takes_the_device_figures(catalog):
    import simpy

    from fleetsim.cloud.training import TrainingCluster
    from fleetsim.metrics.events import EventLog
    from fleetsim.scenario.cloud import Cluster

    device, workload = catalog.devices["tpu_v4"], catalog.profile("ssd_mobilenet_v2_300")
    devices = {"tpu_v4": device}
    own = TrainingCluster(simpy.Environment(), Cluster(name="t", device="tpu_v4", chips=4, source="x"),
                          devices, workload, EventLog()).pools[0]
    assert own.mfu == device.training.mfu.value and own.startup_s == device.training.startup.value
    set_ = TrainingCluster(simpy.Environment(), Cluster(name="t", device="tpu_v4", chips=4, mfu=0.5,
                                                        startup="1 min", source="x"),
                           devices, workload, EventLog()).pools[0]
    assert (set_.mfu, set_.startup_s) == (0.5, 60.0)
    pools = [{"name": "own", "device": "tpu_v4", "chips": 4, "mfu": 0.25, "startup": "2 min"},
             {"name": "cluster", "device": "tpu_v4", "chips": 4}]
    mixed = TrainingCluster(simpy.Environment(), Cluster(name="t", pools=pools, mfu=0.5, source="x"),
                            devices, workload, EventLog()).pools
    assert [(p.mfu, p.startup_s) for p in mixed] == [(0.25, 120.0), (0.5, device.training.startup.value)]


def test_spot_figures_are_sourced_and_cheaper_than_on_demand(catalog):
    spot = {d.id: d for d in catalog.devices.values() if d.kind == "cloud" and d.spot is not None}
    assert set(spot) == {"a100", "h100", "l4"}
    for device in spot.values():
        assert device.spot.hourly_price.value < device.hourly_price.value
        assert 0 < device.spot.preemption_rate.value * 3600 < 1  # well under one preemption an hour
        assert "instance-advisor" in device.spot.preemption_rate.source


def test_every_measurement_point_names_a_known_workload(catalog):
    for device in catalog.devices.values():
        for point in (*device.calibration, *device.validation):
            assert point.workload in catalog.workloads, f"{device.id}: unknown workload {point.workload}"
            assert point.precision in device.peak, f"{device.id}: no peak at {point.precision}"
