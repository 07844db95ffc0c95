"""End-to-end runs: fast path vs reference, conservation, reproducibility, the closed loop."""

from __future__ import annotations

import contextlib
import copy
import json

import numpy as np
import pandas as pd
import pytest

import fleetsim
from fleetsim.metrics.columns import SUMMARY_KEYS, TABLE_COLUMNS
from fleetsim.results import UndocumentedResult, build_results, summary_keys
from fleetsim.scenario.models import Scenario
from fleetsim.world.scene import CLASSES
from tests.conftest import small_scenario_data, with_overrides


@pytest.fixture(scope="module")
def both_modes():
    data = small_scenario_data()
    fast = fleetsim.run(Scenario.model_validate(data))
    ref = fleetsim.run(Scenario.model_validate(
        with_overrides(data, simulation__mode="reference")))
    return fast, ref


def test_reference_and_vectorised_give_identical_frames(both_modes):
    fast, ref = both_modes
    a, b = fast.tables["frames"], ref.tables["frames"]
    assert len(a) == len(b) > 10_000
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert a["dropped"].any(), "the rpi group must saturate and drop frames"


def test_reference_and_vectorised_give_identical_summaries(both_modes):
    fast, ref = both_modes
    strip = lambda s: {k: v for k, v in s.items() if k != "run"}  # noqa: E731
    assert json.dumps(strip(fast.summary), sort_keys=True) == json.dumps(
        strip(ref.summary), sort_keys=True)
    for name in ("uploads", "training_jobs", "model_swaps", "detections", "accuracy_windows"):
        pd.testing.assert_frame_equal(fast.tables[name], ref.tables[name], check_exact=True)


def test_window_length_does_not_change_results(small_data):
    base = fleetsim.run(Scenario.model_validate(small_data))
    other = fleetsim.run(Scenario.model_validate(
        with_overrides(small_data, simulation__window="7 s")))
    pd.testing.assert_frame_equal(base.tables["frames"], other.tables["frames"], check_exact=True)


def test_frames_and_samples_are_conserved(both_modes):
    fast, _ = both_modes
    s = fast.summary
    assert s["frames"]["failed"] == s["faults"]["failures"] == 0
    assert s["frames"]["generated"] == s["frames"]["processed"] + s["frames"]["dropped"]
    for group in s["groups"].values():
        f = group["frames"]
        assert f["generated"] == f["processed"] + f["dropped"]
    assert sum(g["frames"]["generated"] for g in s["groups"].values()) == s["frames"]["generated"]
    samples = s["samples"]
    assert samples["selected"] == (samples["uploaded"] + samples["in_flight"] + samples["queued"]
                                   + samples["evicted"])
    assert samples["uploaded"] == fast.tables["uploads"]["samples"].sum()
    assert s["network"]["uploaded_bytes"] == fast.tables["uploads"]["bytes"].sum()
    detections = fast.tables["detections"]
    assert len(detections) == s["frames"]["detected"] == s["accuracy"]["frames"] > 100
    assert samples["selected"] == detections["selected"].sum() > 0
    assert (detections["found"] == detections["true_positives"] + detections["false_positives"]).all()
    windows = fast.tables["vehicle_windows"]
    assert windows["frames_generated"].sum() == s["frames"]["generated"]
    assert windows["frames_detected"].sum() == s["frames"]["detected"]
    assert windows["energy_j"].sum() == pytest.approx(s["energy"]["edge_j"])


def test_frame_counts_follow_camera_rates(small_scenario):
    results = fleetsim.run(small_scenario)
    periodic = results.tables["frames"].query("group == 'coral' and camera == 0")
    per_vehicle = periodic.groupby("vehicle").size()
    assert (per_vehicle.between(30 * 600 - 1, 30 * 600)).all()


def test_loop_closes_samples_train_and_vehicles_switch(both_modes):
    fast, _ = both_modes
    s = fast.summary
    assert s["retraining"]["jobs"] >= 1
    assert s["retraining"]["deployments"] >= 1
    swaps = fast.tables["model_swaps"]
    assert len(swaps) >= 1 and (swaps["to_version"] > swaps["from_version"]).all()
    frames = fast.tables["frames"]
    first = swaps.iloc[0]
    mine = frames[frames["vehicle"] == first["vehicle"]]
    before = mine[mine["t_capture_s"] < first["t_swap_s"]]["model_version"]
    after = mine[mine["t_capture_s"] >= first["t_swap_s"]]["model_version"]
    assert (before <= first["from_version"]).all()
    assert (after >= first["to_version"]).all() and len(after) > 0
    jobs = fast.tables["training_jobs"]
    assert (jobs["t_end_s"] > jobs["t_start_s"]).all() and (jobs["cost_usd"] > 0).all()
    assert s["network"]["downloaded_bytes"] > 0


def test_no_retraining_means_no_jobs_and_a_run_goes_phase_by_phase(small_data):
    data = with_overrides(small_data, cloud__retraining={"kind": "never"})
    seen = []

    @contextlib.contextmanager
    def phase(name, sim):  # what a benchmark watches: each phase of the run, in order, once
        seen.append((name, "from", None if sim is None else sim.env.now))
        yield
        seen.append((name, "to", None if sim is None else sim.env.now))

    results = fleetsim.run(Scenario.model_validate(data), phases=phase)
    assert seen == [("building", "from", None), ("building", "to", None), ("simulating", "from", 0.0),
                    ("simulating", "to", 600.0), ("results", "from", 600.0), ("results", "to", 600.0)]
    assert results.summary["retraining"]["jobs"] == 0
    assert results.tables["frames"]["model_version"].eq(0).all()


def test_same_seed_same_results_and_seed_matters(small_scenario):
    a = fleetsim.run(small_scenario)
    b = fleetsim.run(small_scenario)
    c = fleetsim.run(small_scenario, seed=4)
    strip = lambda s: json.dumps({k: v for k, v in s.items() if k != "run"}, sort_keys=True)  # noqa: E731
    assert strip(a.summary) == strip(b.summary)
    assert strip(a.summary) != strip(c.summary)
    assert c.summary["run"]["seed"] == 4


def test_every_written_column_is_documented(both_modes):
    fast, _ = both_modes
    for name, table in fast.tables.items():
        assert list(table.columns) == list(TABLE_COLUMNS[name]), name


def test_every_summary_key_is_documented_and_every_documented_key_is_written(both_modes):
    fast, _ = both_modes
    assert set(summary_keys(fast.summary)) == set(SUMMARY_KEYS)


class _Collector:
    """A collector giving fixed tables and figures."""

    def __init__(self, tables=None, summary=None):
        self._tables, self._summary = tables or {}, summary or {}

    def tables(self):
        return self._tables

    def summary(self, tables):
        return self._summary


def test_results_fail_on_an_undocumented_summary_key_or_column(small_scenario):
    def merge(*collectors):
        return build_results(small_scenario, list(collectors), wall_s=0.0)

    merged = merge(_Collector(summary={"energy": {"edge_j": 1.0}}),
                   _Collector(summary={"energy": {"radio_j": 2.0}}))
    assert merged.summary["energy"] == {"edge_j": 1.0, "radio_j": 2.0}  # sections merge
    with pytest.raises(UndocumentedResult, match="energy.fuel_j"):
        merge(_Collector(summary={"energy": {"fuel_j": 1.0}}))
    with pytest.raises(UndocumentedResult, match="groups.<name>.speed_kmh"):
        merge(_Collector(summary={"groups": {"coral": {"speed_kmh": 3}}}))
    with pytest.raises(UndocumentedResult, match="table outages"):
        merge(_Collector(tables={"outages": pd.DataFrame({"when": [1.0]})}))
    with pytest.raises(ValueError, match="energy.edge_j given by two collectors"):
        merge(*[_Collector(summary={"energy": {"edge_j": 1.0}})] * 2)


def test_save_writes_every_artefact(tmp_path, small_data):
    data = with_overrides(small_data, outputs__plots=True)
    results = fleetsim.run(Scenario.model_validate(data))
    out = results.save(tmp_path / "run")
    assert json.loads((out / "summary.json").read_text())["frames"]["generated"] > 0
    for name in results.tables:
        back = pd.read_parquet(out / "tables" / f"{name}.parquet")
        assert len(back) == len(results.tables[name])
    assert (out / "plots" / "latency_cdf.png").stat().st_size > 10_000
    assert (out / "plots" / "uploads_and_versions.png").stat().st_size > 10_000
    assert (out / "plots" / "accuracy_over_time.png").stat().st_size > 10_000
    assert "<h2>Latency breakdown by stage</h2>" in (out / "report.html").read_text(encoding="utf-8")
    resolved = (out / "scenario.resolved.yaml").read_text()
    assert "queue_capacity: 2" in resolved and "window: 30.0 s" in resolved


def test_resolved_scenario_reloads_to_the_same_scenario(tmp_path, small_scenario, catalog):
    from fleetsim.scenario.loader import load_scenario

    out = fleetsim.run(small_scenario).save(tmp_path / "r")
    again = load_scenario(out / "scenario.resolved.yaml", catalog)
    assert again == small_scenario


def test_latency_matches_hardware_model_when_idle(small_data):
    data = with_overrides(small_data, fleet__groups=[small_data["fleet"]["groups"][0]])
    data["fleet"]["groups"][0]["cameras"] = [{"name": "front", "fps": "10 Hz"}]
    results = fleetsim.run(Scenario.model_validate(data))
    latency = results.tables["frames"]["latency_s"].to_numpy()
    service = results.tables["vehicles"]["inference_latency_s"].iloc[0]
    legs = results.tables["latency_legs"].set_index("leg")["mean_s"]
    assert legs["queue"] == 0  # idle: no frame waits
    # the frame path is the hardware model's legs: its call (transfer, inference and host work) plus
    # the camera readout, pre-processing and hand-off around it
    # (each leg's mean is stored to the nanosecond, so three of them sum to within 1.5 ns)
    assert legs["transfer"] + legs["inference"] + legs["postprocess"] == pytest.approx(service, abs=1.5e-9)
    path = sum(legs[leg] for leg in ("capture", "preprocess", "transfer", "inference", "postprocess",
                                     "handoff"))
    assert np.allclose(latency, path, rtol=0, atol=1e-8)


def test_readout_overlaps_the_processing_of_earlier_frames(small_data):
    # frames every T with S < T < R + S (R: readout, S: the rest of the path) keep up: each frame
    # finds the path idle once its readout ends, where a path holding readout too would saturate
    group = {**small_data["fleet"]["groups"][0], "count": 1, "queue_capacity": 1}
    data = with_overrides(small_data, simulation__duration="1 min", fleet__groups=[group])

    def run(fps: float):
        data["fleet"]["groups"][0]["cameras"] = [{"name": "front", "fps": f"{fps} Hz"}]
        return fleetsim.run(Scenario.model_validate(data))

    idle = run(10.0).tables["latency_legs"].set_index("leg")["mean_s"]
    readout = idle["capture"]
    path = sum(idle[leg] for leg in ("preprocess", "transfer", "inference", "postprocess", "handoff"))
    period = path + readout / 2
    assert path < period < readout + path
    results = run(1 / period)
    frames = results.tables["frames"]
    assert len(frames) > 1000 and not frames["dropped"].any()
    legs = results.tables["latency_legs"].set_index("leg")
    assert legs.loc["queue", "mean_s"] == 0
    assert np.allclose(frames["latency_s"], readout + path, rtol=0, atol=1e-8)


def test_summary_json_is_byte_identical_apart_from_host_times(tmp_path, small_scenario):
    from fleetsim.digests import WALL_SUMMARY_KEYS

    host = [f'"{key}"' for *_, key in WALL_SUMMARY_KEYS]  # run.wall_s and the waits inside it
    texts = []
    for name in ("a", "b"):
        out = fleetsim.run(small_scenario).save(tmp_path / name)
        lines = (out / "summary.json").read_text().splitlines()
        texts.append([line for line in lines if not any(key in line for key in host)])
    assert texts[0] == texts[1] and len(texts[0]) > 100


def test_progress_reports_simulated_time_up_to_the_end(small_scenario):
    seen = []
    fleetsim.run(small_scenario, on_progress=lambda now, total: seen.append((now, total)))
    assert seen[0][0] == 0.0 and seen[-1] == (600.0, 600.0)
    assert all(b[0] >= a[0] for a, b in zip(seen, seen[1:], strict=False))


def test_cli_run_writes_the_run_folder(tmp_path, small_data):
    from typer.testing import CliRunner

    from fleetsim.cli import app
    from tests.conftest import write_yaml

    path = write_yaml(tmp_path, with_overrides(small_data, simulation__duration="2 min"))
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "out"),
                                      "--seed", "5", "--quiet"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["run"]["seed"] == 5
    assert "results written to" in result.stdout and result.stderr == ""


def test_detections_follow_the_world_and_the_selection_policies(both_modes):
    fast, _ = both_modes
    det = fast.tables["detections"]
    frames = fast.tables["frames"]
    detected = frames[frames["detected"]]
    assert not detected["dropped"].any(), "only processed frames are detected"
    assert set(det["condition"]) >= {"day_clear", "dusk_clear"}  # the sun sets during the run
    assert det.loc[det["group"] == "rpi", "condition"].str.contains("fog").any()
    town = det.loc[det["group"] == "coral", "condition"]
    assert not town.str.contains("fog").any()  # the fog covers the ring only
    accuracy = fast.summary["accuracy"]
    assert set(accuracy["map50_by_condition"]) <= set(det["condition"])
    assert 0.0 < accuracy["map50_mean"] <= 1.0
    rpi = det[det["group"] == "rpi"]  # low_confidence: every kept frame had an ambiguous detection
    assert (rpi.loc[rpi["selected"], "uncertainty"] >= 0.6).all()
    cap = 1 + 120 / 3600 * 600  # token bucket: one to start with plus max_rate x duration
    assert det.groupby("vehicle")["selected"].sum().max() <= cap
    windows = fast.tables["accuracy_windows"]
    assert windows["frames"].sum() == len(det)


def test_condition_trigger_keeps_only_matching_frames(small_data):
    data = with_overrides(small_data, fleet__groups__0__uploads__selection={
        "kind": "condition_trigger", "conditions": ["dusk"]})
    det = fleetsim.run(Scenario.model_validate(data)).tables["detections"]
    kept = det[(det["group"] == "coral") & det["selected"]]
    assert len(kept) > 0 and kept["condition"].str.startswith("dusk").all()


def test_uploaded_samples_keep_pixels_and_ground_truth(small_scenario, catalog):
    from fleetsim.engine import Run  # the run's internals: its cloud store and sample archive

    sim = Run(small_scenario, catalog)
    sim.execute(None)
    ids = sim.store.sample_ids  # the labelled ones (no retention limit: all of them)
    assert sim.store.received > 0
    assert len(ids) == sim.store.labelled > 0
    samples = sim.store.frames(np.array(ids))  # the cloud holds their pixels now
    assert samples.images.shape == (len(ids), 96, 96, 3) and samples.images.dtype == np.uint8
    assert (samples.images.reshape(len(ids), -1).std(axis=1) > 0).all()  # real pictures, not blanks
    objects = sim.log.frame("labels", ["sample", "objects"]).set_index("sample")["objects"]
    assert len(samples.box) == objects.loc[ids].sum()  # annotators label every object's box
    selected = np.concatenate([r["selected"] for r in sim.detection.records]).sum()
    assert len(sim.detection.archive) == selected  # one sample id per selected frame
    waiting = sum(len(v.samples) + v.samples_in_flight for v in sim.vehicles)
    assert sim.detection.archive.held == waiting  # uploaded and evicted samples' pixels were let go
    with pytest.raises(ValueError, match="released"):
        sim.detection.archive.frames(np.array(ids[:1]))


def test_canary_map50_of_a_time_range_agrees_with_the_whole_runs_record(small_scenario, catalog, monkeypatch):
    from fleetsim.detector.evaluation import matched_map50_by_group
    from fleetsim.engine import Run
    from fleetsim.metrics.accuracy import stack_records

    monkeypatch.setattr("fleetsim.detector.matched_file.SPILL_BYTES", 50_000)  # most parts read from the file
    sim = Run(small_scenario, catalog)
    sim.env.run(until=sim.duration)
    detection = sim.detection
    assert len(detection.records) > 1  # detections kept in parts, one per flush
    assert detection.matched.spilled_bytes > 0 and detection.matched.held_bytes > 0
    frames = stack_records(detection.records)
    found, objects = detection.matched.rows(np.ones(len(frames["vehicle"]), dtype=bool))
    t1 = float(np.median(frames["capture_s"]))
    cases = ((None, None), (np.array([0, 2]), None), (None, 0))
    got = [detection.map50_of(0.0, t1, vehicles, version) for vehicles, version in cases]
    detection.finish()  # the frames still pending join: the same frames give the same figure
    assert [detection.map50_of(0.0, t1, vehicles, version) for vehicles, version in cases] == got
    for (vehicles, version), value in zip(cases, got, strict=True):
        inside = (frames["capture_s"] >= 0) & (frames["capture_s"] < t1)
        if vehicles is not None:
            inside &= np.isin(frames["vehicle"], vehicles)
        if version is not None:
            inside &= frames["model_version"] == version
        # the reference: the whole run's record, its frames split into in and out
        want = matched_map50_by_group(found, objects, np.where(inside, 0, 1), ["in", "out"],
                                      len(CLASSES))["in"]
        assert value == want
    assert np.isnan(detection.map50_of(-2.0, -1.0))


def test_without_a_workload_the_detectors_own_graph_is_costed(small_data, catalog):
    from fleetsim.hardware.inference import inference_cost

    data = copy.deepcopy(small_data)
    del data["detector"]["workload"]
    results = fleetsim.run(Scenario.model_validate(data))
    own = catalog.profile("fleetsim_centernet_96")  # layers profiled from the same graph
    expected = inference_cost(catalog.device("coral_usb"), own, "int8", catalog,
                              host=catalog.vehicle_host("coral_usb")).latency_s  # on its vehicle host
    vehicles = results.tables["vehicles"]
    assert vehicles.loc[vehicles["group"] == "coral", "inference_latency_s"].eq(expected).all()


def test_detections_do_not_depend_on_threads_or_batch_size(both_modes, small_data):
    """Same scenario and seed, other ONNX Runtime/rendering threads and batch: same detections."""
    fast, _ = both_modes
    other = fleetsim.run(Scenario.model_validate(
        with_overrides(small_data, detector__threads=1, detector__batch_size=7)))
    pd.testing.assert_frame_equal(fast.tables["detections"], other.tables["detections"], check_exact=True)
    assert fast.summary["accuracy"] == other.summary["accuracy"]


def test_edge_energy_charges_each_inference_its_modelled_energy(both_modes, catalog):
    fast, _ = both_modes
    vehicles = fast.tables["vehicles"].set_index("vehicle")
    busy = fast.tables["vehicle_windows"].groupby("vehicle")["busy_s"].sum()
    energy = fast.tables["vehicle_windows"].groupby("vehicle")["energy_j"].sum()
    for name, row in vehicles.iterrows():
        idle = catalog.devices[row["accelerator"]].idle_power.value
        busy_power = row["inference_energy_j"] / row["inference_latency_s"]
        expected = idle * 600.0 + (busy_power - idle) * busy[name]
        assert energy[name] == pytest.approx(expected, rel=1e-9), name
    coral = vehicles[vehicles["group"] == "coral"].iloc[0]
    own = catalog.devices["coral_usb"].active_power.value * coral["inference_latency_s"]
    assert coral["inference_energy_j"] > own  # the host CPU runs the detector's NMS
