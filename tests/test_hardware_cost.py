"""Fleet hardware cost: sourced unit prices of each vehicle's accelerator and its host CPU."""

from __future__ import annotations

import pytest

from fleetsim.metrics.hardware_cost import hardware_figures
from fleetsim.scenario.models import Scenario
from tests.conftest import with_overrides


def test_each_vehicle_pays_for_its_accelerator_and_its_host(small_data, catalog):
    data = with_overrides(small_data, fleet__groups__1__accelerator="hailo8")
    fleet, groups = hardware_figures(Scenario.model_validate(data), catalog)
    coral = catalog.device("coral_usb").unit_price.value + catalog.device("rpi4_cpu").unit_price.value
    hailo = catalog.device("hailo8").unit_price.value + catalog.device("rpi5_cpu").unit_price.value
    assert groups["coral"]["host_cpu"] == "rpi4_cpu"  # its vehicle_host, not the desktop it was timed on
    assert groups["coral"]["fleet_usd"] == pytest.approx(3 * coral)
    assert groups["rpi"]["host_cpu"] == "rpi5_cpu"
    assert groups["rpi"]["fleet_usd"] == pytest.approx(2 * hailo)
    assert fleet["fleet_usd"] == pytest.approx(3 * coral + 2 * hailo)
    assert fleet["fleet_usd"] == pytest.approx(fleet["accelerator_usd"] + fleet["host_usd"])
    assert fleet["unpriced"] == []


def test_a_device_without_a_sourced_price_leaves_the_sum_unknown(small_data, catalog):
    assert catalog.device("inferx_x1").unit_price is None
    data = with_overrides(small_data, fleet__groups__1__accelerator="inferx_x1")
    fleet, groups = hardware_figures(Scenario.model_validate(data), catalog)
    assert groups["rpi"]["accelerator_usd"] is None and groups["rpi"]["fleet_usd"] is None
    assert groups["coral"]["fleet_usd"] is not None
    assert fleet["accelerator_usd"] is None and fleet["fleet_usd"] is None
    assert fleet["unpriced"] == ["inferx_x1"]


def test_a_group_names_its_own_host(small_data, catalog):
    data = with_overrides(small_data, fleet__groups__0__host="desktop_cpu")
    fleet, groups = hardware_figures(Scenario.model_validate(data), catalog)
    assert groups["coral"]["host_cpu"] == "desktop_cpu"
    assert groups["coral"]["host_unit_usd"] == catalog.device("desktop_cpu").unit_price.value
