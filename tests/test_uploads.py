"""On-vehicle upload buffers, upload policies and over-the-air downloads in whole runs."""

from __future__ import annotations

import numpy as np
import pytest

import fleetsim
from fleetsim.edge.fleet import UploadBuffer
from fleetsim.scenario.models import Scenario
from tests.conftest import small_scenario_data, with_overrides


@pytest.mark.parametrize("eviction, kept", [
    ("oldest", [12, 13, 14]),           # the two oldest went
    ("newest", [10, 11, 12]),           # the last two never got in
    ("lowest_priority", [10, 11, 13]),  # 13 (0.7) pushed out 12 (0.1); 14 (0.3) was the least informative
])
def test_a_full_buffer_evicts_by_its_policy_and_counts(eviction, kept):
    buffer = UploadBuffer(capacity_bytes=3 * 100.0, sample_bytes=100.0, eviction=eviction)
    evicted = buffer.add(np.arange(5.0), np.arange(10, 15), np.array([0.5, 0.9, 0.1, 0.7, 0.3]))
    assert sorted(buffer.sample_id) == kept
    assert len(buffer) == 3 and buffer.evicted == 2
    assert sorted(evicted + kept) == list(range(10, 15))  # the caller learns which ids left


def test_uploads_take_the_highest_priority_first_within_the_batch():
    buffer = UploadBuffer(capacity_bytes=1e9, sample_bytes=1.0, eviction="oldest")
    buffer.add(np.array([0.0, 1.0, 2.0, 9.0]), np.array([1, 2, 3, 4]), np.array([0.2, 0.8, 0.5, 0.99]))
    assert buffer.take_ready(5.0, limit=2) == [2, 3]  # 4 is not ready yet
    assert buffer.take_ready(5.0, min_priority=0.3) == []
    assert buffer.take_ready(10.0) == [4, 1]


def _run(**overrides):
    return fleetsim.run(Scenario.model_validate(with_overrides(small_scenario_data(), **overrides)))


def test_a_tiny_buffer_evicts_and_every_sample_is_accounted_for():
    r = _run(fleet__groups__0__uploads__buffer="400 kB", fleet__groups__0__uploads__interval="5 min")
    s = r.summary["samples"]
    assert s["evicted"] > 0
    assert s["selected"] == s["uploaded"] + s["in_flight"] + s["queued"] + s["evicted"]
    assert r.tables["vehicles"]["samples_evicted"].sum() == s["evicted"]


def test_deferring_to_the_depot_sends_bulk_samples_only_over_wifi():
    r = _run(fleet__groups__0__uploads__cellular="none")
    uploads = r.tables["uploads"]
    coral = uploads[uploads["group"] == "coral"]
    assert len(coral) > 0 and (coral["technology"] == "wifi").all()
    urgent = _run(fleet__groups__0__uploads__cellular="urgent",
                  fleet__groups__0__uploads__urgent_priority=0.5)
    sent = urgent.tables["uploads"].query("group == 'coral'")
    assert set(sent["technology"]) <= {"wifi", "lte"}


def test_network_bytes_and_radio_energy_add_up():
    r = _run()
    net, uploads, swaps = r.summary["network"], r.tables["uploads"], r.tables["model_swaps"]
    assert net["uploaded_bytes"] == pytest.approx(uploads["bytes"].sum())
    assert net["downloaded_bytes"] >= swaps["bytes"].sum()  # versions a vehicle skipped still downloaded
    assert (uploads["wire_bytes"] >= uploads["bytes"]).all()
    vehicles = r.tables["vehicles"]
    assert r.summary["energy"]["radio_j"] == pytest.approx(vehicles["radio_energy_j"].sum())
    by_group = sum(g["energy"]["radio_j"] for g in r.summary["groups"].values())
    assert by_group == pytest.approx(r.summary["energy"]["radio_j"])
    assert (vehicles["radio_energy_j"] > 0).all()
    parked = vehicles[vehicles["group"] == "rpi"]
    assert (parked["handovers"] == 0).all() and (parked["coverage_gap_s"] == 0).all()
    driving = vehicles[vehicles["group"] == "coral"]
    assert (driving["handovers"] > 0).all() and (driving["coverage_gap_s"] > 0).all()
    assert net["handovers"] == vehicles["handovers"].sum()
