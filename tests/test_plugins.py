"""Plug-ins by table and hardware as data: a retraining trigger, a selection policy, a network
technology, an edge device and a workload, added from a test-only module
(``tests/plugins_example.py``) without touching fleetsim, run in scenarios."""

from __future__ import annotations

import pytest

import fleetsim
from fleetsim.errors import ScenarioError
from fleetsim.hardware.catalog import load_catalog
from fleetsim.scenario.loader import require_valid
from fleetsim.scenario.models import Scenario
from tests import plugins_example
from tests.conftest import small_scenario_data, with_overrides

SATELLITE = dict(network__cells__0__technology="leo_satellite", network__cells__0__name="town_sat")


def _data(**overrides) -> dict:
    data = small_scenario_data()
    for leg in data["world"]["routes"][0]["legs"]:
        if leg.get("cell") == "town_lte":
            leg["cell"] = "town_sat"
    data["fleet"]["groups"][1]["cell"] = "town_sat"
    return with_overrides(data, **SATELLITE, **overrides)


def test_a_registered_trigger_rollout_and_catalog_technology_run_a_scenario(tmp_path):
    catalog = load_catalog(plugins_example.catalog_with_additions(tmp_path))
    data = _data(cloud__retraining={"kind": "cooldown", "cluster": "gpus", "samples": 5, "cooldown": "4 min"},
                 cloud__rollout={"kind": "all_at_once", "chunk_size": "8 MiB"})
    scenario = Scenario.model_validate(data)
    assert scenario.cloud.retraining.cooldown == 240.0  # the plug-in's own model, SI units
    dumped = scenario.model_dump(mode="json")["cloud"]
    assert (dumped["retraining"]["kind"], dumped["rollout"]["kind"]) == ("cooldown", "all_at_once")
    plugins_example.TRIGGERS_BUILT.clear()
    plugins_example.ROLLOUTS_BUILT.clear()
    results = fleetsim.run(scenario, catalog=catalog)
    (trigger,), (rollout,) = plugins_example.TRIGGERS_BUILT, plugins_example.ROLLOUTS_BUILT
    gaps = [b - a for a, b in zip(trigger.starts, trigger.starts[1:], strict=False)]
    assert len(trigger.starts) == results.summary["retraining"]["jobs"] >= 1
    assert all(g >= 240.0 for g in gaps)  # the cooldown held
    assert len(rollout.released) == results.summary["retraining"]["models_released"]
    assert len(results.tables["rollouts"]) == 0  # no canary decisions
    uploads = results.tables["uploads"]
    assert "leo_satellite" in set(uploads["technology"])  # samples went up over the new technology


def test_the_new_technology_is_metered_like_a_cell(tmp_path):
    catalog = load_catalog(plugins_example.catalog_with_additions(tmp_path))
    data = _data(fleet__groups__1__uploads__cellular="none")
    results = fleetsim.run(Scenario.model_validate(data), catalog=catalog)
    rpi = results.tables["uploads"].query("group == 'rpi'")
    assert len(rpi) == 0  # metered: true holds the rpi group's samples back (it never reaches the depot)


def test_technologies_are_checked_against_the_catalog(catalog):
    scenario = Scenario.model_validate(_data())  # the shipped catalog has no leo_satellite
    with pytest.raises(ScenarioError, match=r"network\.cells\[0\]\.technology: unknown cell technology "
                       r"'leo_satellite' \(allowed: lte, nr_mmwave, nr_sub6\)"):
        require_valid(scenario, catalog)
    depot = Scenario.model_validate(with_overrides(small_scenario_data(),
                                                   network__depots__0__technology="lte"))
    with pytest.raises(ScenarioError, match=r"unknown depot technology 'lte' \(allowed: wifi\)"):
        require_valid(depot, catalog)


def test_an_unknown_kind_lists_the_registered_ones_too():
    data = with_overrides(small_scenario_data(), cloud__retraining={"kind": "hourly"})
    with pytest.raises(Exception, match="unknown kind hourly .*'drift', 'cooldown'"):
        Scenario.model_validate(data)


def test_a_registered_selection_policy_a_new_device_and_a_new_workload_run(tmp_path):
    catalog = load_catalog(plugins_example.catalog_with_additions(tmp_path))
    data = with_overrides(small_scenario_data(), fleet__groups__0__accelerator="coral_usb_b",
                          fleet__groups__0__uploads__selection={"kind": "one_camera", "camera": 1},
                          detector__workload="ssd_mobilenet_v2_300_b", cloud__retraining={"kind": "never"})
    results = fleetsim.run(Scenario.model_validate(data), catalog=catalog)
    kept = results.tables["detections"].query("group == 'coral' and selected")
    assert len(kept) > 0 and (kept["camera"] == 1).all()  # the rear camera's frames only
    vehicles = results.tables["vehicles"].query("group == 'coral'")
    assert (vehicles["accelerator"] == "coral_usb_b").all()
    assert (vehicles["inference_latency_s"] > 0).all()
    assert catalog.profile("ssd_mobilenet_v2_300_b").per_layer is False  # no profile: costed from totals
