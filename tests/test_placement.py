"""Inference placement: the remote queue, offload streams, conservation and the latency legs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import simpy
import yaml

from fleetsim import run
from fleetsim.digests import without_wall_times
from fleetsim.hardware.inference import CSI2_RATE, RAW_BYTES_PER_PIXEL
from fleetsim.network.topology import UP
from fleetsim.queues import ServerPool
from tests.conftest import ROOT, small_scenario_data, with_overrides, write_yaml
from tests.test_network import MB, _network
from tests.test_validate import _first_issue

PLACEMENT = ROOT / "scenarios" / "placement_edge_vs_cloud.yaml"


def _simpy_queue(arrivals, service, servers, capacity):
    """The same queue as one SimPy process per frame (slow, for checking)."""
    env = simpy.Environment()
    pool = simpy.Resource(env, capacity=servers)
    out = {}

    def frame(k, a):
        yield env.timeout(a)
        if len(pool.users) + len(pool.queue) >= servers + capacity:
            return
        with pool.request() as request:
            yield request
            start = env.now
            yield env.timeout(service)
            out[k] = (start, env.now)

    for k, a in enumerate(arrivals):
        env.process(frame(k, a))
    env.run()
    return out


@pytest.mark.parametrize("servers, capacity", [(1, 0), (1, 3), (3, 2)])
def test_remote_queue_agrees_with_a_simpy_reference(servers, capacity):
    rng = np.random.default_rng(servers * 10 + capacity)
    arrivals = np.sort(rng.exponential(0.4, size=400).cumsum() / servers)
    queue = ServerPool(servers, capacity)
    halves = [queue.serve(part, 0.5) for part in np.array_split(arrivals, 2)]  # state carries over
    admitted, start, end = (np.concatenate(x) for x in zip(*halves, strict=True))
    reference = _simpy_queue(arrivals.tolist(), 0.5, servers, capacity)
    assert sorted(reference) == np.flatnonzero(admitted).tolist()
    assert 0 < admitted.sum() < len(arrivals)  # some frames queue and some are turned away
    for k, (s, e) in reference.items():
        assert (start[k], end[k]) == pytest.approx((s, e), abs=1e-12)


def test_a_stream_takes_its_demand_and_sends_frames_at_its_backlogged_share(catalog):
    # cell capacity C; a stream with demand C/10 beside one bulk upload: the stream gets C/10
    # and the upload the rest (max-min), while a frame goes at the fair share C/2.
    env, net = _network(catalog, 2, cell_up=10 * MB)
    stream = net.open_stream(0, UP, "cloud", demand=MB)
    upload = net.transfer(1, UP, 90 * MB, "cloud")
    promotion = catalog.technologies["lte"].radio.promotion.value
    env.run(until=promotion + 20.0)  # a stream never ends: run to a time
    assert upload.value.sent_s == pytest.approx(promotion + 90 / 9, rel=1e-9)  # upload at C - C/10
    during, after = net.frame_rates(stream, np.array([promotion + 1.0, promotion + 11.0]))
    assert during == pytest.approx(5 * MB)
    assert after == pytest.approx(10 * MB)  # alone, a frame has the whole cell
    assert net.bytes_offered[UP] == 90 * MB  # a stream is not a transfer


def _placement(tmp_path, duration="2 min", seed=7):
    tmp_path.mkdir(parents=True, exist_ok=True)
    data = yaml.safe_load(PLACEMENT.read_text(encoding="utf-8"))
    data["simulation"].update(duration=duration, seed=seed)
    data["outputs"] = {"plots": False}
    return run(write_yaml(tmp_path, data))


def test_placement_scenario_counts_every_frame_and_every_offboard_byte(tmp_path):
    results = _placement(tmp_path)
    summary, tables = results.summary, results.tables
    for name, group in summary["groups"].items():
        frames = group["frames"]
        assert frames["generated"] == frames["processed"] + frames["dropped"] + frames["failed"], name
    sites = tables["inference_servers"].set_index("kind")
    assert (sites["frames_arrived"] == sites["frames_served"] + sites["frames_dropped"]).all()
    frame_size = 100e3
    assert summary["groups"]["onboard"]["privacy"]["offboard_frame_bytes"] == 0
    for name in ("mec", "cloud"):  # every frame that left reached its server
        assert summary["groups"][name]["privacy"]["offboard_frame_bytes"] == (
            sites.loc[name, "frames_arrived"] * frame_size)
    assert summary["privacy"]["offboard_frame_bytes"] == sites["frames_arrived"].sum() * frame_size
    assert summary["offload"]["no_path_frames"] > 0  # the underpass
    assert summary["offload"]["no_path_frames"] <= summary["frames"]["failed"]


def test_latency_legs_add_up_to_the_total(tmp_path):
    legs = _placement(tmp_path).tables["latency_legs"]
    for group, rows in legs.groupby("group"):
        by_leg = rows.set_index("leg")
        expected = {"onboard": {"capture", "queue", "preprocess", "transfer", "inference", "postprocess",
                                "handoff", "total"}}.get(
            group, {"capture", "send_queue", "uplink", "remote_queue", "inference", "downlink", "total"})
        assert set(by_leg.index) == expected
        assert (by_leg["frames"] == by_leg.loc["total", "frames"]).all()
        parts = by_leg.drop(index="total")["mean_s"].sum()
        # each leg and the total are summed in whole nanoseconds: at most half a ns apart per leg
        assert parts == pytest.approx(by_leg.loc["total", "mean_s"], abs=0.5e-9 * len(expected))
    mec = legs[legs.group == "mec"].set_index("leg")
    cloud = legs[legs.group == "cloud"].set_index("leg")
    assert mec.loc["downlink", "p50_s"] < cloud.loc["downlink", "p50_s"]  # the MEC is nearer
    # an offloaded frame is sent once read out: the same 720p readout as onboard
    readout = legs[(legs.leg == "capture")].set_index("group")["mean_s"]
    for group in ("onboard", "mec", "cloud"):  # means stored to the nanosecond
        assert readout[group] == pytest.approx(1280 * 720 * RAW_BYTES_PER_PIXEL / CSI2_RATE, abs=1e-9)


def test_same_seed_same_placement_results(tmp_path):
    a = _placement(tmp_path / "a", duration="1 min")
    b = _placement(tmp_path / "b", duration="1 min")
    assert without_wall_times(a.summary) == without_wall_times(b.summary)
    assert a.tables["latency_legs"].equals(b.tables["latency_legs"])


def _offloading(**changes):
    data = small_scenario_data()
    data["network"]["mec"] = [{"name": "edge", "cells": ["town_lte"], "accelerator": "l4",
                               "latency": "5 ms", "source": "test"}]
    return with_overrides(data, **{"fleet__groups__0__placement": "mec", **changes})


@pytest.mark.parametrize("overrides, path, fragment", [
    ({"fleet__groups__0__placement": "cloud"}, "fleet.groups[0].placement", "needs cloud.inference"),
    ({"network__mec__0__cells": ["downtown"]}, "network.mec[0].cells[0]", "unknown cell 'downtown'"),
    ({"network__mec__0__accelerator": "l5"}, "network.mec[0].accelerator", "unknown hardware model 'l5'"),
    ({"network__mec__0__precision": "fp16", "network__mec__0__accelerator": "cpu_server"},
     "network.mec[0].precision", "cpu_server cannot run fp16"),
    ({"simulation__mode": "reference"}, "fleet.groups[0].placement", "runs only in the vectorised mode"),
    ({"fleet__groups__0__placement": "edge"}, "fleet.groups[0].placement", "'onboard', 'mec' or 'cloud'"),
])
def test_bad_placements_are_located_and_explained(tmp_path, overrides, path, fragment):
    match = _first_issue(tmp_path, _offloading(**overrides))
    assert match["path"] == path
    assert fragment in match["msg"]


def test_mec_placement_needs_a_server_on_the_groups_cells(tmp_path):
    data = _offloading()
    data["network"]["cells"].append({"name": "far", "technology": "lte", "backhaul": "core"})
    data["network"]["mec"][0]["cells"] = ["far"]
    match = _first_issue(tmp_path, data)
    assert match["path"] == "fleet.groups[0].placement"
    assert "needs a network.mec server on one of the group's cells (town_lte)" in match["msg"]



def test_offloaded_frames_read_out_for_different_times_do_not_depend_on_the_window(tmp_path):
    # a 1080p and a 240p camera: frames end their readout out of capture order, and those still
    # in readout when a stretch ends are sent in the next one
    data = yaml.safe_load(PLACEMENT.read_text(encoding="utf-8"))
    data["simulation"].update(duration="1 min", seed=7)
    for group in data["fleet"]["groups"]:
        group["cameras"] = [{"name": "front", "fps": "10 Hz", "resolution": "1920x1080"},
                            {"name": "rear", "fps": "10 Hz", "arrivals": "poisson", "resolution": "320x240"}]
    frames = []
    for window in ("30 s", "7 s"):
        data["simulation"]["window"] = window
        data["outputs"] = {"plots": False, "frame_table": True}
        frames.append(run(write_yaml(tmp_path, data, f"window_{window[:-2]}.yaml")).tables["frames"])
    assert frames[0]["t_done_s"].notna().sum() > 1000
    pd.testing.assert_frame_equal(frames[0], frames[1], check_exact=True)
