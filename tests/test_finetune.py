"""Training jobs really fine-tune the detector: weights change, int8 re-exported, scored."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile

import numpy as np
import pytest
import torch

from fleetsim.cloud.finetune import FineTuner, ModelsFolder
from fleetsim.detector.baseline import EVAL_CONDITIONS, baseline_path
from fleetsim.detector.dataset import SampleArchive, render_dataset
from fleetsim.detector.runtime import OnnxDetector
from fleetsim.digests import without_wall_times
from fleetsim.scenario.cloud import FineTune
from fleetsim.world import AnnotatedFrames, Conditions

INITIAL = {"int8": baseline_path("int8")}


def _archive(n: int) -> SampleArchive:
    frames = render_dataset(n, 11, Conditions.uniform(n, daylight=0.05), purpose="fleet_night")
    archive = SampleArchive()
    archive.add(frames, np.arange(n))
    return archive


def test_a_job_changes_the_weights_and_ships_a_scored_int8_model():
    tuner = FineTuner(FineTune(replay=0.5, validation_frames=16), _archive(24), seed=3,
                      threads=1, batch_size=16, initial=INITIAL)
    before = {k: v.clone() for k, v in tuner.model.state_dict().items()}
    tuned = tuner.fine_tune(1, list(range(24)), epochs=1)
    after = tuner.model.state_dict()
    changed = any(not torch.equal(before[k], after[k]) for k in before)
    assert changed == tuned.passed  # the deployed weights move only through the gate
    assert tuned.passed == (np.mean(list(tuned.map50.values())) > tuned.deployed_map50)
    assert tuned.samples == 24 and tuned.replay == 12 and tuned.parent_job == 0
    assert tuned.paths["int8"].is_file() and tuned.size_bytes == tuned.paths["int8"].stat().st_size
    assert set(tuned.map50) == set(EVAL_CONDITIONS)
    images = render_dataset(4, 5, Conditions.uniform(4), purpose="probe").images
    new = OnnxDetector(tuned.paths["int8"]).heads(images)[0]
    old = OnnxDetector(baseline_path("int8")).heads(images)[0]
    assert not np.array_equal(new, old)
    second = tuner.fine_tune(2, list(range(24)), epochs=1)
    assert second.parent_job == (1 if tuned.passed else 0)


def test_the_same_job_gives_the_same_model():
    settings = FineTune(replay=0.0, validation_frames=8)
    a = FineTuner(settings, _archive(16), seed=4, threads=1, batch_size=8, initial=INITIAL)
    b = FineTuner(settings, _archive(16), seed=4, threads=2, batch_size=4, initial=INITIAL)
    ra, rb = a.fine_tune(1, list(range(16)), 1), b.fine_tune(1, list(range(16)), 1)
    assert list(ra.paths) == ["int8"] and ra.paths["int8"].read_bytes() == rb.paths["int8"].read_bytes()
    assert ra.map50 == rb.map50


class _BoxesRemoved:
    """A label source that keeps the samples' pixels and gives no boxes (a labeller that finds nothing)."""

    def __init__(self, archive: SampleArchive):
        self.archive = archive

    def frames(self, ids) -> AnnotatedFrames:
        f = self.archive.frames(ids)
        none = np.zeros(len(f.cls), bool)
        return AnnotatedFrames(f.images, f.frame[none], f.cls[none], f.box[none], f.visible[none],
                               f.novel[none], f.conditions)


def test_a_job_trains_on_the_labels_its_sample_source_gives():
    settings = FineTune(replay=0.0, validation_frames=8, min_gain=-1.0)
    archive = _archive(16)
    truth = FineTuner(settings, archive, seed=4, threads=1, batch_size=8, initial=INITIAL)
    blank = FineTuner(settings, _BoxesRemoved(archive), seed=4, threads=1, batch_size=8, initial=INITIAL)
    a, b = truth.fine_tune(1, list(range(16)), 1), blank.fine_tune(1, list(range(16)), 1)
    # same pixels, same seed: only the labels differ
    assert a.paths["int8"].read_bytes() != b.paths["int8"].read_bytes()


def _run(**overrides):
    import fleetsim
    from fleetsim.scenario.models import Scenario
    from tests.conftest import small_scenario_data, with_overrides

    return fleetsim.run(Scenario.model_validate(with_overrides(small_scenario_data(), **overrides)))


def test_the_validation_gate_keeps_back_a_model_that_is_not_better():
    r = _run(cloud__fine_tune={"min_gain": 1.0})
    s, versions = r.summary["retraining"], r.tables["model_versions"]
    assert s["jobs"] > 0 and s["models_released"] == 0 and s["models_rejected"] == len(versions)
    assert len(r.tables["model_swaps"]) == 0 and r.summary["network"]["downloaded_bytes"] == 0
    assert (versions["parent_job"] == 0).all()  # every job starts again from the shipped weights


def test_sample_count_policy_and_the_daily_budget():
    policy = {"kind": "sample_count", "samples": 20, "cluster": "gpus", "check_every": "30 s"}
    r = _run(cloud__retraining=policy)
    jobs = r.tables["training_jobs"]
    assert len(jobs) >= 2 and r.summary["retraining"]["skipped_over_budget"] == 0
    host = r.summary["run"]  # a job's model is needed a few simulated minutes on: the simulation waits
    assert 0.05 * len(jobs) < host["training_wait_s"] < host["wall_s"]  # a fine-tune takes longer than 50 ms
    assert 0 <= host["detection_wait_s"] < host["wall_s"]
    assert set(host) - set(without_wall_times(r.summary)["run"]) == {"wall_s", "training_wait_s",
                                                                     "detection_wait_s"}
    capped = _run(cloud__retraining={**policy, "budget": {"usd_per_day": "0.001 USD"}})
    skipped = capped.tables["skipped_jobs"]
    assert capped.summary["retraining"]["jobs"] == 0 and len(skipped) > 0
    assert capped.summary["run"]["training_wait_s"] == 0
    assert (skipped["day_usd"] > 0.001).all() and (skipped["new_samples"] >= 20).all()


def test_drift_policy_retrains_when_fleet_confidence_falls():
    policy = {"kind": "drift", "cluster": "gpus", "window": "2 min", "check_every": "30 s"}
    drifting = _run(cloud__retraining={**policy, "drop": 0.1})
    jobs = drifting.tables["training_jobs"]
    assert len(jobs) >= 1 and (jobs["t_submit_s"] > 120.0).all()  # only after the reference window
    steady = _run(cloud__retraining={**policy, "drop": 0.99})
    assert steady.summary["retraining"]["jobs"] == 0


def test_canary_first_then_the_fleet():
    r = _run(cloud__rollout={"canary_period": "1 min", "canary_fraction": 0.2})
    swaps, rollouts = r.tables["model_swaps"], r.tables["rollouts"]
    first = rollouts.iloc[0]
    assert first["decision"] == "fleet" and first["canary_vehicles"] == 1
    v1 = swaps[swaps["to_version"] == first["version"]]
    early = v1[v1["t_swap_s"] < first["t_decision_s"]]
    assert early["vehicle"].nunique() == 1  # only the canary before the decision
    assert v1["vehicle"].nunique() == 5  # everyone after it


def test_a_regressing_canary_is_rolled_back_and_its_weights_dropped():
    r = _run(cloud__rollout={"canary_period": "1 min"},
             cloud__fine_tune={"min_gain": -1.0, "learning_rate": 1.0})  # wrecks the weights
    rollouts, swaps, versions = r.tables["rollouts"], r.tables["model_swaps"], r.tables["model_versions"]
    back = rollouts[rollouts["decision"] == "rollback"]
    assert r.summary["retraining"]["rollbacks"] == len(back) >= 1
    assert (back["canary_score"] < back["fleet_score"]).all()
    withdrawn = set(back["version"])
    ran = swaps[swaps["to_version"].isin(withdrawn) & ~swaps["rollback"]]
    assert ran["vehicle"].nunique() == 1  # never beyond the canary
    returned = swaps[swaps["rollback"]]
    assert len(returned) >= 1 and (returned["to_version"] < returned["from_version"]).all()
    bad_jobs = set(versions.loc[versions["version"].isin(withdrawn), "job"])
    later = versions[versions["job"] > min(bad_jobs)]
    assert not set(later["parent_job"]) & bad_jobs  # later jobs train from the weights before


def test_staleness_is_the_mean_age_of_the_model_each_frame_ran():
    r = _run()
    detections, versions = r.tables["detections"], r.tables["model_versions"]
    release = {0: 0.0, **dict(zip(versions["version"], versions["t_release_s"], strict=True))}
    ages = [t - release[v]
            for t, v in zip(detections["t_capture_s"], detections["model_version"], strict=True)]
    assert r.summary["accuracy"]["staleness_s"] == pytest.approx(float(np.mean(ages)))
    assert min(ages) >= 0
    never = _run(cloud__retraining={"kind": "never"})
    captured = never.tables["detections"]["t_capture_s"]
    assert never.summary["accuracy"]["staleness_s"] == pytest.approx(captured.mean())


@pytest.mark.slow
def test_fine_tunes_overlapping_the_simulation_give_the_results_of_waiting(monkeypatch):
    """Jobs, gate decisions, canary rollbacks and every table bit for bit, fine-tunes on a worker or not."""
    from fleetsim.digests import results_digests

    overrides = {"cloud__rollout": {"canary_period": "1 min"},
                 "cloud__fine_tune": {"min_gain": -1.0, "learning_rate": 1.0}}
    overlapped = _run(**overrides)
    monkeypatch.setattr(FineTuner, "overlaps", False)
    waited = _run(**overrides)
    retraining = overlapped.summary["retraining"]
    assert retraining["jobs"] >= 2 and retraining["rollbacks"] >= 1
    assert results_digests(overlapped) == results_digests(waited)
    assert waited.summary["run"]["training_wait_s"] > 0.05 * retraining["jobs"]  # each fine-tune, whole


def test_a_killed_runs_models_folder_is_removed_by_the_next_and_a_live_ones_is_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    child = subprocess.Popen([sys.executable, "-c", "import time; from fleetsim.cloud.finetune import "
                              "ModelsFolder; f = ModelsFolder(); print(f.name, flush=True); time.sleep(600)"],
                             stdout=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(tmp_path)})
    killed = tmp_path / os.path.basename(child.stdout.readline().strip())
    (killed / "v1_int8.onnx").write_bytes(b"model")
    child.send_signal(signal.SIGKILL)
    child.communicate()  # reaped, its pipe closed
    foreign = tmp_path / f"{ModelsFolder.PREFIX}without_lock"  # not one of ours: no .lock
    foreign.mkdir()
    live = ModelsFolder()
    assert killed.parent == tmp_path and not killed.exists() and foreign.exists()
    following = ModelsFolder()
    assert os.path.isdir(live.name) and os.path.isdir(following.name)
    name = live.name
    del live
    assert not os.path.exists(name)  # the folder and its lock go with the run
