"""Fuzzed whole runs: random valid scenarios, every feature on and off, and every identity holds.

``scenarios()`` builds small fleets (1-3 groups of 1-3 vehicles) for a few simulated minutes
from ``small_scenario_data``, switching on or off faults, placements (with the MEC server or
cloud inference they need), labellers, retention, retraining policies, budgets, spot pools,
selection kinds and the canary rollout. Each run must finish and conserve frames, samples,
bytes and jobs. FLEETSIM_FUZZ_EXAMPLES sets the number of examples (default a few, so the
file takes about a minute); the retraining examples train tiny models (few samples, 1 epoch).
"""

from __future__ import annotations

import os

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import fleetsim
from fleetsim.scenario.loader import require_valid
from fleetsim.scenario.models import Scenario
from tests.conftest import small_scenario_data

EXAMPLES = int(os.environ.get("FLEETSIM_FUZZ_EXAMPLES", "6"))
EDGE = {"coral_usb": ["int8"], "rpi4_cpu": ["int8"], "rpi5_cpu": ["int8", "fp32"], "hailo8": ["int8"],
        "jetson_orin_nano": ["int8", "fp16"]}
THERMAL = ("rpi4_cpu", "rpi5_cpu")
"""Edge devices with sourced thermal figures: throttling may use their defaults."""


def _seconds(draw, lo: int, hi: int) -> str:
    return f"{draw(st.integers(lo, hi))} s"


@st.composite
def _faults(draw, accelerator: str) -> dict:
    faults = {}
    if draw(st.booleans()):
        throttling = {}
        if accelerator not in THERMAL or draw(st.booleans()):
            throttling = {"after": _seconds(draw, 1, 120),
                          "sustained_fraction": draw(st.sampled_from([0.3, 0.5, 0.9]))}
        faults["thermal_throttling"] = throttling
    if draw(st.booleans()):
        faults["failures"] = {"mtbf": _seconds(draw, 20, 300), "repair": _seconds(draw, 1, 40)}
    return faults


@st.composite
def _selection(draw) -> dict:
    kind = draw(st.sampled_from(["random", "low_confidence", "condition_trigger"]))
    if kind == "random":
        return {"kind": kind, "fraction": draw(st.sampled_from([0.5, 1.0, 0.05]))}
    if kind == "low_confidence":
        return {"kind": kind, "uncertainty": draw(st.sampled_from([0.2, 0.6, 0.9]))}
    return {"kind": kind, "conditions": draw(st.lists(st.sampled_from(["day", "dusk", "fog", "novel"]),
                                                      min_size=1, max_size=2, unique=True))}


@st.composite
def _group(draw, i: int, placement: str) -> dict:
    accelerator = draw(st.sampled_from(sorted(EDGE)))
    cameras = [{"name": f"cam{c}", "fps": f"{draw(st.sampled_from([2, 5, 10, 30]))} Hz",
                "arrivals": draw(st.sampled_from(["periodic", "poisson"]))}
               for c in range(draw(st.integers(1, 2)))]
    parked = draw(st.sampled_from(["town_lte", "yard"])) if draw(st.booleans()) else None
    if placement == "mec":
        parked = "town_lte" if parked else None  # the MEC server sits by town_lte
    group = {
        "name": f"g{i}", "count": draw(st.integers(1, 3)), "cameras": cameras, "accelerator": accelerator,
        "precision": draw(st.sampled_from(EDGE[accelerator])),
        "deadline": f"{draw(st.sampled_from([20, 60, 200]))} ms",
        "queue_capacity": draw(st.integers(0, 3)), "region": draw(st.sampled_from(["town", "ring"])),
        "uploads": {"selection": draw(_selection()), "max_rate": f"{draw(st.sampled_from([3600, 60]))} / h",
                    "sample_size": draw(st.sampled_from(["50 kB", "200 kB"])),
                    "interval": _seconds(draw, 5, 60),
                    "batch": draw(st.sampled_from([None, 1, 4])),
                    "buffer": draw(st.sampled_from(["400 kB", "1 GB"])),
                    "eviction": draw(st.sampled_from(["oldest", "lowest_priority", "newest"])),
                    "cellular": draw(st.sampled_from(["all", "urgent", "none"]))},
        "faults": draw(_faults(accelerator)), "placement": placement,
    }
    group.update({"cell": parked} if parked else {"route": "loop"})
    if placement != "onboard":
        group["offload"] = {"frame_size": draw(st.sampled_from(["20 kB", "100 kB"])),
                            "send_queue": draw(st.integers(0, 3))}
    return group


@st.composite
def _cluster(draw) -> dict:
    cluster = {"name": "gpus", "startup": _seconds(draw, 0, 60), "source": "test values",
               "scheduling": draw(st.sampled_from(["fifo", "shortest_first", "earliest_finish"]))}
    if draw(st.booleans()):
        return {**cluster, "device": "a100", "chips": 1, "concurrent_jobs": draw(st.integers(1, 2))}
    spot = {"name": "spot", "device": draw(st.sampled_from(["a100", "h100", "l4"])), "chips": 1,
            "capacity": "spot", "preemption_rate": f"{draw(st.sampled_from([3600, 60, 600]))} / h",
            "restock": _seconds(draw, 0, 60)}
    return {**cluster, "pools": [spot, {"name": "demand", "device": "cpu_server", "chips": 1}],
            "checkpoint_interval": _seconds(draw, 1, 30)}


@st.composite
def _retraining(draw, horizon_s: int) -> dict:
    kind = draw(st.sampled_from(["periodic", "sample_count", "drift", "never"]))
    if kind == "never":
        return {"kind": kind}
    policy = {"kind": kind, "cluster": "gpus", "epochs": 1}
    if draw(st.booleans()):
        policy["budget"] = {"usd_per_day": f"{draw(st.sampled_from([0.0001, 0.01, 100]))} USD"}
    if kind == "periodic":
        policy |= {"interval": _seconds(draw, 20, horizon_s), "min_samples": draw(st.integers(1, 5))}
    elif kind == "sample_count":
        policy |= {"samples": draw(st.integers(1, 8)), "check_every": _seconds(draw, 10, 60)}
    else:
        policy |= {"window": _seconds(draw, 10, 60), "drop": draw(st.sampled_from([0.01, 0.05, 0.5])),
                   "min_samples": draw(st.integers(1, 5)), "check_every": _seconds(draw, 10, 60)}
    return policy


@st.composite
def _labeling(draw, needed: int) -> dict:
    if draw(st.booleans()):
        labeler = {"kind": "annotators", "annotators": draw(st.integers(1, 4)),
                   "time_per_box": _seconds(draw, 1, 10), "turnaround": _seconds(draw, 0, 60)}
    else:
        labeler = {"kind": "teacher", "device": draw(st.sampled_from(["l4", "a100"]))}
    retention = {}
    if draw(st.booleans()):
        retention["max_samples"] = needed + draw(st.integers(0, 10))
    if draw(st.booleans()):
        retention["max_age"] = _seconds(draw, 1, 300)
    return {"labeler": labeler, "retention": retention}


@st.composite
def scenarios(draw) -> dict:
    """Scenario data (as a YAML file would hold it) of a small, short, valid run."""
    data = small_scenario_data()
    horizon_s = draw(st.integers(60, 240))
    data["simulation"] = {"duration": f"{horizon_s} s", "seed": draw(st.integers(0, 2**16)),
                          "window": _seconds(draw, 3, 30)}
    placements = [draw(st.sampled_from(["onboard", "onboard", "mec", "cloud"]))
                  for _ in range(draw(st.integers(1, 3)))]
    data["fleet"]["groups"] = [draw(_group(i, p)) for i, p in enumerate(placements)]
    if all(p == "onboard" for p in placements) and draw(st.integers(0, 4)) == 0:
        data["simulation"]["mode"] = "reference"
    if "mec" in placements:
        data["network"]["mec"] = [{"name": "roadside", "cells": ["town_lte"], "accelerator": "l4",
                                   "servers": draw(st.integers(1, 2)),
                                   "queue_capacity": draw(st.integers(0, 8)),
                                   "latency": "2 ms", "source": "test values"}]
    cloud = data["cloud"]
    if "cloud" in placements:
        cloud["inference"] = {"accelerator": "a100", "servers": 1, "queue_capacity": draw(st.integers(0, 8)),
                              "source": "test values"}
    cloud["clusters"] = [draw(_cluster())]
    cloud["retraining"] = draw(_retraining(horizon_s))
    needed = cloud["retraining"].get("samples", cloud["retraining"].get("min_samples", 1))
    cloud["labeling"] = draw(_labeling(needed))
    cloud["fine_tune"] = {"max_samples": draw(st.integers(4, 16)),
                          "replay": draw(st.sampled_from([0.0, 0.5])), "batch_size": 8,
                          "validation_frames": 8, "min_gain": draw(st.sampled_from([-1.0, 0.0, 0.5]))}
    cloud["rollout"] = {"canary_fraction": draw(st.sampled_from([0.0, 0.3, 1.0])),
                        "canary_period": _seconds(draw, 5, 90),
                        "canary_signal": draw(st.sampled_from(["map50", "confidence"])),
                        "max_regression": draw(st.sampled_from([0.01, 0.05, 0.9])),
                        "chunk_size": draw(st.sampled_from(["64 kB", "4 MiB"]))}
    data["detector"] = {"detect_every": draw(st.sampled_from([20, 60, 200])),
                        "workload": "ssd_mobilenet_v2_300", "threads": 1, "batch_size": 64}
    if draw(st.booleans()):
        data["world"]["conditions"]["novelty"] = {"onset": _seconds(draw, 0, horizon_s)}
    data["outputs"] = {"window": _seconds(draw, 7, 60), "accuracy_window": _seconds(draw, 30, 120),
                       "frame_table": True, "plots": False}
    return data


def check_conservation(results) -> None:
    """Every frame, sample, byte and job the run accepted ends in one counted state."""
    s, t = results.summary, results.tables
    f = s["frames"]
    assert f["generated"] == f["processed"] + f["dropped"] + f["failed"]
    for name in ("generated", "processed", "dropped", "failed", "late", "detected", "throttled"):
        assert sum(g["frames"][name] for g in s["groups"].values()) == f[name], name
        assert t["vehicle_windows"][f"frames_{name}"].sum() == f[name], name
    for g in s["groups"].values():
        g = g["frames"]
        assert g["generated"] == g["processed"] + g["dropped"] + g["failed"]
    assert max(f["late"], f["detected"], f["throttled"]) <= f["processed"]
    frames = t["frames"]
    assert len(frames) == f["generated"]
    fates = frames["dropped"].astype(int) + frames["failed"].astype(int) + frames["t_done_s"].notna()
    assert (fates == 1).all()
    assert len(t["detections"]) == f["detected"] == s["accuracy"]["frames"]
    assert t["accuracy_windows"]["frames"].sum() == f["detected"]
    assert t["vehicle_windows"]["energy_j"].sum() == pytest.approx(s["energy"]["edge_j"])
    assert len(t["outages"]) == s["faults"]["failures"]
    _check_latency(s, t)
    _check_samples(s, t, results.scenario)
    _check_jobs(s, t)
    servers = t["inference_servers"]
    assert (servers["frames_arrived"] == servers["frames_served"] + servers["frames_dropped"]).all()


def _check_latency(s: dict, t: dict) -> None:
    frames = t["frames"]
    done = frames[frames["t_done_s"].notna()]
    for name, figures in [*s["groups"].items(), ("", s)]:
        latency = figures["latency_ms"]
        mine = done if not name else done[done["group"] == name]
        if not len(mine):
            assert latency["p50"] is None and latency["max"] is None
            continue
        least, most = mine["latency_s"].min() * 1e3, mine["latency_s"].max() * 1e3
        assert least <= latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"] == most
        assert least - 1e-6 <= latency["mean"] <= most + 1e-6  # sums are kept in whole nanoseconds
    histogram = t["latency_histogram"]
    for (group, _leg), rows in histogram.groupby(["group", "leg"]):
        assert rows["frames"].sum() == s["groups"][group]["frames"]["processed"]
    legs = t["latency_legs"]
    assert (legs[["mean_s", "p50_s", "p95_s", "p99_s"]] >= 0).all().all()
    assert (legs["p50_s"] <= legs["p95_s"]).all() and (legs["p95_s"] <= legs["p99_s"]).all()


def _check_samples(s: dict, t: dict, scenario: Scenario) -> None:
    samples, labeling, net = s["samples"], s["labeling"], s["network"]
    assert samples["selected"] == (samples["uploaded"] + samples["in_flight"] + samples["queued"]
                                   + samples["evicted"])
    assert samples["selected"] == t["detections"]["selected"].sum()
    assert samples["uploaded"] == t["uploads"]["samples"].sum()
    assert samples["evicted"] == t["vehicles"]["samples_evicted"].sum()
    assert samples["queued"] == t["vehicles"]["samples_queued_at_end"].sum()
    assert samples["uploaded"] == (samples["retained"] + samples["expired"] + samples["over_capacity"]
                                   + labeling["pending_at_end"])
    assert labeling["labelled"] == samples["retained"] + samples["expired"] + samples["over_capacity"]
    for row in samples["by_condition"].values():
        assert row["received"] == row["pending"] + row["retained"] + row["dropped"]
    assert net["uploaded_bytes"] == pytest.approx(t["uploads"]["bytes"].sum())
    assert net["upload_in_flight_bytes"] >= 0 and net["download_in_flight_bytes"] >= 0
    sizes = {g.uploads.sample_size for g in scenario.fleet.groups}
    if len(sizes) == 1:  # every sample the same size: bytes offered = delivered + in flight
        assert net["uploaded_bytes"] + net["upload_in_flight_bytes"] == pytest.approx(
            sizes.pop() * (samples["uploaded"] + samples["in_flight"]))
    assert net["downloaded_bytes"] >= t["model_swaps"]["bytes"].sum() - 1e-6


def _check_jobs(s: dict, t: dict) -> None:
    r, jobs, events = s["retraining"], t["training_jobs"], t["training_events"]
    assert r["jobs"] == len(jobs)
    assert r["jobs_submitted"] == r["jobs"] + r["jobs_running"] + r["jobs_queued"]
    assert r["preemptions"] == (events["event"] == "preempted").sum() == jobs["preemptions"].sum() + (
        events[~events["job"].isin(jobs["job"])]["event"] == "preempted").sum()
    assert r["cloud_cost_usd"] == pytest.approx(jobs["cost_usd"].sum() + r["unfinished_cost_usd"])
    assert r["cloud_energy_j"] >= jobs["energy_j"].sum() * (1 - 1e-9)
    versions = t["model_versions"]
    assert len(versions) <= r["jobs"]
    assert r["models_released"] + r["models_rejected"] == len(versions)
    assert r["deployments"] <= r["models_released"]
    started = t["training_events"].query("event == 'started'")
    assert (started["cost_usd"] >= 0).all() and (started["energy_j"] >= 0).all()


def _run(data: dict):
    return fleetsim.run(Scenario.model_validate(data))


def _every_feature() -> dict:
    """A fixed example with every feature on at once, so the default run always fine-tunes for real."""
    data = small_scenario_data()
    data["simulation"]["duration"] = "4 min"
    coral, rpi = data["fleet"]["groups"]
    coral["faults"] = {"thermal_throttling": {"after": "1 min", "sustained_fraction": 0.5},
                       "failures": {"mtbf": "2 min", "repair": "10 s"}}
    rpi |= {"placement": "mec", "offload": {"frame_size": "20 kB"}}
    data["network"]["mec"] = [{"name": "roadside", "cells": ["town_lte"], "accelerator": "l4",
                               "latency": "2 ms", "source": "test values"}]
    cloud = data["cloud"]
    pools = [{"name": "spot", "device": "a100", "chips": 1, "capacity": "spot", "preemption_rate": "600 / h"},
             {"name": "demand", "device": "cpu_server", "chips": 1}]
    cloud["clusters"] = [{"name": "gpus", "startup": "5 s", "source": "test values",
                          "checkpoint_interval": "2 s", "pools": pools}]
    cloud["retraining"] = {"kind": "periodic", "interval": "40 s", "min_samples": 2, "cluster": "gpus",
                           "budget": {"usd_per_day": "100 USD"}}
    cloud["labeling"] = {"labeler": {"kind": "annotators", "annotators": 2, "turnaround": "20 s"},
                         "retention": {"max_samples": 12, "max_age": "90 s"}}
    cloud["fine_tune"] = {"max_samples": 8, "batch_size": 8, "validation_frames": 8, "min_gain": -1.0}
    cloud["rollout"] = {"canary_fraction": 0.5, "canary_period": "20 s"}
    data["detector"]["threads"] = 1
    data["world"]["conditions"]["novelty"] = {"onset": "1 min"}
    return data


@example(_every_feature())
@settings(max_examples=EXAMPLES, deadline=None, derandomize="FLEETSIM_FUZZ_EXAMPLES" not in os.environ,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenarios())
def test_random_valid_scenarios_run_and_conserve_everything(data):
    check_conservation(_run(data))


def test_the_fuzzed_scenarios_switch_every_feature(catalog):
    """The strategy reaches each feature (a check on the strategy, not on fleetsim)."""
    seen: set[str] = set()

    @settings(max_examples=300, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(scenarios())
    def collect(data):
        scenario = Scenario.model_validate(data)  # every drawn scenario is valid
        require_valid(scenario, catalog)
        cloud = scenario.cloud
        for g in scenario.fleet.groups:
            seen.update({g.placement, g.uploads.selection.kind, f"cellular_{g.uploads.cellular}"})
            if g.faults.failures:
                seen.add("failures")
            if g.faults.thermal_throttling:
                seen.add("throttling")
        seen.update({cloud.retraining.kind, cloud.labeling.labeler.kind, scenario.simulation.mode})
        seen.update(f"retention_{k}" for k, v in cloud.labeling.retention.model_dump().items() if v)
        if getattr(cloud.retraining, "budget", None) and cloud.retraining.budget.usd_per_day is not None:
            seen.add("budget")
        if any(p.capacity == "spot" for c in cloud.clusters for p in c.node_pools):
            seen.add("spot")
        if 0 < cloud.rollout.canary_fraction < 1:
            seen.add("canary")

    collect()
    assert seen >= {"onboard", "mec", "cloud", "random", "low_confidence", "condition_trigger", "failures",
                    "throttling", "never", "periodic", "sample_count", "drift", "annotators", "teacher",
                    "retention_max_samples", "retention_max_age", "budget", "spot", "canary", "reference",
                    "vectorised", "cellular_none"}


def test_identities_fail_on_a_broken_count():
    """The checker is not vacuous: a frame lost from the counts is caught."""
    data = small_scenario_data()
    data["simulation"]["duration"] = "1 min"
    data["cloud"]["retraining"] = {"kind": "never"}
    results = _run(data)
    check_conservation(results)
    results.summary["frames"]["dropped"] += 1
    with pytest.raises(AssertionError):
        check_conservation(results)
    results.summary["frames"]["dropped"] -= 1
    results.tables["uploads"] = pd.concat([results.tables["uploads"], results.tables["uploads"].head(1)])
    with pytest.raises(AssertionError):
        check_conservation(results)

