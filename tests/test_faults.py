"""Accelerator faults: thermal throttling and failures, in the queue and in whole runs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import fleetsim
from fleetsim.edge.faults import outage_schedule, padded
from fleetsim.edge.queueing import QueueState, serve
from fleetsim.hardware.inference import CSI2_RATE, RAW_BYTES_PER_PIXEL
from fleetsim.scenario.models import Failures, Scenario
from tests.conftest import small_scenario_data, with_overrides

NAN = np.nan


def test_an_outage_loses_the_queue_and_the_frames_that_arrive_while_down():
    # service 1.5 s; down from 2.5 to 3.5 s. Frame 1 would end at 3.0 and frame 2 is queued
    # behind it: both are lost at 2.5. Frame 3 arrives while down. Frames 4, 5 run normally.
    state = QueueState.empty(vehicles=1, capacity=2)
    onset, back = np.array([[2.5, np.inf]]), np.array([[3.5, np.inf]])
    out = serve(state, np.arange(6.0)[None, :], np.full((1, 6), 1.5), (onset, back))
    assert out.admitted.tolist() == [[True, False, False, False, True, True]]
    assert out.failed.tolist() == [[False, True, True, True, False, False]]
    np.testing.assert_array_equal(out.start, [[0.0, NAN, NAN, NAN, 4.0, 5.5]])
    np.testing.assert_array_equal(out.departure, [[1.5, NAN, NAN, NAN, 5.5, 7.0]])


def test_a_frame_done_before_the_failure_completes():
    state = QueueState.empty(vehicles=1, capacity=0)
    out = serve(state, np.array([[0.0, 3.0]]), np.full((1, 2), 1.0),
                (np.array([[1.0 + 1e-9, np.inf]]), np.array([[2.0, np.inf]])))
    assert out.admitted.tolist() == [[True, True]] and not out.failed.any()


@pytest.mark.parametrize("split", [1, 3, 7, 20])
def test_outages_give_the_same_fates_in_any_stretches(split):
    rng = np.random.default_rng(5)
    arrivals = np.sort(rng.uniform(0, 40, size=(4, 120)), axis=1)
    service = rng.uniform(0.1, 0.6, size=arrivals.shape)
    schedules = [outage_schedule(np.uint64(11 + v), Failures(mtbf="8 s", repair="2 s"), 40.0)
                 for v in range(4)]
    outages = padded(schedules)
    whole = serve(QueueState.empty(4, 2), arrivals, service, outages)
    assert whole.failed.any() and whole.admitted.any()
    state = QueueState.empty(4, 2)
    cuts = np.linspace(0, 40, split + 1)
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        inside = (arrivals >= lo) & (arrivals < hi)
        width = inside.sum(axis=1).max()
        part_a = np.full((4, width), np.inf)
        part_s = np.zeros((4, width))
        for v in range(4):
            k = inside[v].sum()
            part_a[v, :k], part_s[v, :k] = arrivals[v, inside[v]], service[v, inside[v]]
        part = serve(state, part_a, part_s, outages)
        for v in range(4):
            k = inside[v].sum()
            np.testing.assert_array_equal(part.failed[v, :k], whole.failed[v, inside[v]])
            np.testing.assert_array_equal(part.departure[v, :k], whole.departure[v, inside[v]])


def test_failures_follow_the_renewal_rate():
    # up-times exponential with mean 2 s and 1 s repairs: 1 failure per 3 s in the long run
    schedule = outage_schedule(np.uint64(99), Failures(mtbf="2 s", repair="1 s"), 30_000.0)
    assert len(schedule.onset_s) == pytest.approx(10_000, rel=0.03)
    assert np.all(schedule.back_s - schedule.onset_s == pytest.approx(1.0))
    assert np.all(schedule.onset_s[1:] > schedule.back_s[:-1])
    assert schedule.down_s(30_000.0) / 30_000.0 == pytest.approx(1 / 3, rel=0.03)


def _faulty_data() -> dict:
    data = small_scenario_data()
    data = with_overrides(data, simulation__duration="5 min")
    # cameras of different resolutions read out for different times (11 ms and 0.4 ms): frames
    # reach the queue in another order than they were captured in
    data["fleet"]["groups"][0]["cameras"][1]["resolution"] = "320x240"
    data["fleet"]["groups"][0]["faults"] = {
        "thermal_throttling": {"after": "2 min", "sustained_fraction": 0.5},
        "failures": {"mtbf": "1 min", "repair": "15 s"},
    }
    data["fleet"]["groups"][1]["faults"] = {"failures": {"mtbf": "90 s", "repair": "20 s"}}
    return data


@pytest.fixture(scope="module")
def faulty_runs():
    data = _faulty_data()
    fast = fleetsim.run(Scenario.model_validate(data))
    ref = fleetsim.run(Scenario.model_validate(with_overrides(data, simulation__mode="reference")))
    return fast, ref


def test_faults_identical_in_the_fast_and_reference_paths(faulty_runs):
    fast, ref = faulty_runs
    pd.testing.assert_frame_equal(fast.tables["frames"], ref.tables["frames"], check_exact=True)
    strip = lambda s: {k: v for k, v in s.items() if k != "run"}  # noqa: E731
    assert json.dumps(strip(fast.summary), sort_keys=True) == json.dumps(
        strip(ref.summary), sort_keys=True)


def test_frames_reach_the_queue_out_of_capture_order(faulty_runs):
    fast, _ = faulty_runs
    frames = fast.tables["frames"]
    readout = np.where(frames["camera"] == 0, 1920 * 1080, 320 * 240) * RAW_BYTES_PER_PIXEL / CSI2_RATE
    frames = frames.assign(arrival=frames["t_capture_s"] + readout)
    crossed = 0
    for _, mine in frames[frames["group"] == "coral"].groupby("vehicle"):
        arrival = mine.sort_values("t_capture_s")["arrival"].to_numpy()
        crossed += int((np.diff(arrival) < 0).sum())
    assert crossed > 100
    done = frames[frames["t_done_s"].notna()]
    assert (done["t_start_s"] >= done["arrival"] - 1e-12).all()


def test_every_frame_ends_served_dropped_or_failed(faulty_runs):
    fast, _ = faulty_runs
    s = fast.summary
    f = s["frames"]
    assert f["failed"] > 0 and f["throttled"] > 0
    assert f["generated"] == f["processed"] + f["dropped"] + f["failed"]
    frames = fast.tables["frames"]
    fates = frames["dropped"].astype(int) + frames["failed"].astype(int) + frames["t_done_s"].notna()
    assert (fates == 1).all()
    for g in s["groups"].values():
        assert g["frames"]["generated"] == (g["frames"]["processed"] + g["frames"]["dropped"]
                                            + g["frames"]["failed"])
    assert fast.tables["vehicle_windows"]["frames_failed"].sum() == f["failed"]


def test_failed_frames_meet_an_outage(faulty_runs):
    fast, _ = faulty_runs
    frames, outages = fast.tables["frames"], fast.tables["outages"]
    assert len(outages) == fast.summary["faults"]["failures"] > 0
    for vehicle, mine in frames[frames["failed"]].groupby("vehicle"):
        out = outages[outages["vehicle"] == vehicle]
        capture = mine["t_capture_s"].to_numpy()[:, None]
        # captured while down, or before an onset and still in the system then
        near = (capture >= out["t_fail_s"].to_numpy() - 1.0) & (capture < out["t_back_s"].to_numpy())
        assert near.any(axis=1).all(), vehicle
    done = frames[frames["t_done_s"].notna()]
    for vehicle, out in outages.groupby("vehicle"):
        mine = done[done["vehicle"] == vehicle]
        for t_fail, t_back in zip(out["t_fail_s"], out["t_back_s"], strict=True):
            running = (mine["t_start_s"] < t_back) & (mine["t_done_s"] > t_fail)
            assert not running.any(), "nothing is served while the accelerator is down"
    down = sum(min(b, 300.0) - a for a, b in zip(outages["t_fail_s"], outages["t_back_s"], strict=True))
    assert fast.summary["faults"]["down_s"] == pytest.approx(down)
    assert fast.summary["faults"]["availability"] == pytest.approx(1 - down / (5 * 300.0))


def test_throttled_frames_run_at_the_sustained_speed(faulty_runs):
    fast, _ = faulty_runs
    vehicles = fast.tables["vehicles"].set_index("vehicle")
    coral = vehicles[vehicles["group"] == "coral"]
    base, hot = coral["inference_latency_s"].iloc[0], coral["throttled_latency_s"].iloc[0]
    assert hot > base
    frames = fast.tables["frames"]
    coral_served = frames[(frames["group"] == "coral") & frames["t_done_s"].notna()]
    assert coral_served["throttled"].eq(coral_served["t_capture_s"] >= 120.0).all()
    assert fast.summary["groups"]["coral"]["frames"]["throttled"] == int(coral_served["throttled"].sum())
    served = coral_served[coral_served["camera"] == 0]  # one resolution: one path
    service = served["t_done_s"] - served["t_start_s"]
    after = served["t_capture_s"] >= 120.0
    # a frame's path is its legs but the readout; throttling slows only the call (inference and its
    # host work)
    path = service[~after].iloc[0]
    assert path > base
    np.testing.assert_allclose(service[~after], path, rtol=1e-9)
    np.testing.assert_allclose(service[after], path + hot - base, rtol=1e-9)
    assert vehicles.loc[vehicles["group"] == "rpi", "throttled_latency_s"].isna().all()


def test_throttling_defaults_to_the_device_thermal_figures(catalog):
    from fleetsim.hardware.inference import inference_cost

    data = with_overrides(small_scenario_data(), simulation__duration="2 min")
    data["fleet"]["groups"][1]["faults"] = {"thermal_throttling": {}}
    results = fleetsim.run(Scenario.model_validate(data))
    device = catalog.devices["rpi4_cpu"]
    hot = inference_cost(device, catalog.profile("ssd_mobilenet_v2_300"), "int8", catalog, throttled=True)
    vehicles = results.tables["vehicles"]
    assert (vehicles.loc[vehicles["group"] == "rpi", "throttled_latency_s"] == hot.latency_s).all()
    frames = results.tables["frames"].query("group == 'rpi'")
    onset = device.thermal.time_to_throttle.value
    assert frames["throttled"].eq(frames["t_capture_s"].ge(onset) & frames["t_done_s"].notna()).all()
