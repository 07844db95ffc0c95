"""Each group runs its own detector variant: chosen, run, re-made by retraining, downloaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fleetsim.cloud.finetune import REEXPORT, FineTuner
from fleetsim.cloud.rollout import Downloads
from fleetsim.detector.baseline import baseline_path
from fleetsim.detector.compression import variant_path
from fleetsim.detector.dataset import SampleArchive
from fleetsim.detector.runtime import model_precision
from fleetsim.detector.training import render_dataset
from fleetsim.edge import detection
from fleetsim.engine import Run, download_bytes
from fleetsim.scenario.cloud import FineTune
from fleetsim.scenario.models import Scenario
from fleetsim.scenario.references import FINE_TUNABLE
from fleetsim.world import Conditions
from tests.conftest import small_scenario_data, with_overrides


def _mixed(**overrides) -> dict:
    """The small scenario with its second group on a Jetson at fp16 (its variant derived)."""
    data = with_overrides(small_scenario_data(), fleet__groups__1__accelerator="jetson_orin_nano",
                          fleet__groups__1__precision="fp16", fleet__groups__1__deadline="50 ms")
    return with_overrides(data, **overrides)


def test_a_group_runs_its_variant_else_detector_model_else_its_precisions():
    derived = Scenario.model_validate(_mixed())
    assert [derived.variant_of(g) for g in derived.fleet.groups] == ["int8", "fp16"]
    named = Scenario.model_validate(_mixed(detector__model="fp32"))  # back-compatible: one model for all
    assert named.variants() == ["fp32"]
    own = Scenario.model_validate(_mixed(detector__model="fp32", fleet__groups__0__variant="int8_qat"))
    assert own.variants() == ["int8_qat", "fp32"]


def test_downloads_are_each_groups_own_variant(catalog):
    scenario = Scenario.model_validate(_mixed(fleet__groups__0__variant="pruned50_int8",
                                              cloud__retraining={"kind": "never"}))
    run = Run(scenario, catalog)
    sizes = download_bytes(scenario, run.files, run.workloads)
    params = catalog.profile("ssd_mobilenet_v2_300").spec.params.value
    assert sizes["rpi"] == 2 * params  # fp16: two bytes per weight of the costed workload
    assert sizes["coral"] == pytest.approx(params * 20696 / 81704)  # int8, half the channels: a quarter


@pytest.mark.slow
def test_groups_run_their_own_files_and_a_retrain_re_exports_each(catalog, monkeypatch):
    ran: dict[Path, int] = {}  # frames each file detected
    render_and_run = detection._render_and_run

    def counting(keys, conditions, size, model, models):
        for number, session in models.items():
            ran[session.path] = ran.get(session.path, 0) + int((model == number).sum())
        return render_and_run(keys, conditions, size, model, models)

    monkeypatch.setattr(detection, "_render_and_run", counting)
    downloads: dict[str, set[float]] = {}  # bytes of the downloads each group started
    download_and_swap = Downloads._download_and_swap

    def sized(self, vehicle, version, size):
        downloads.setdefault(self.fleet.members[vehicle].group, set()).add(size)
        return download_and_swap(self, vehicle, version, size)

    monkeypatch.setattr(Downloads, "_download_and_swap", sized)
    scenario = Scenario.model_validate(_mixed(
        simulation__duration="11 min", cloud__fine_tune={"min_gain": -1.0, "validation_frames": 8},
        cloud__rollout={"canary_fraction": 1.0}))  # every vehicle downloads each version at once, the
    # Jetson group after its TensorRT build (330 s): 11 minutes leave room for both
    run = Run(scenario, catalog)
    run.execute(None)
    paths = run.registry.paths
    assert paths[0] == {"int8": baseline_path("int8"), "fp16": variant_path("fp16")}
    assert len(paths) > 1 and all(set(p) == {"int8", "fp16"} for p in paths.values())
    for version in list(paths)[1:]:  # each retrain re-made both, at their own precisions
        assert {v: model_precision(p) for v, p in paths[version].items()} == {"int8": "int8", "fp16": "fp16"}
    records = run.detection.records[0]
    variant = np.array([v.variant for v in run.vehicles])[records["vehicle"]]
    expected = {paths[version][name]: int(((records["model_version"] == version) & (variant == name)).sum())
                for version in paths for name in ("int8", "fp16")}
    assert {p: ran.get(p, 0) for p in expected} == expected and sum(ran.values()) == len(variant)
    sizes = download_bytes(scenario, run.files, run.workloads)
    assert downloads == {"coral": {sizes["coral"]}, "rpi": {sizes["rpi"]}}
    assert sizes["rpi"] == 2 * sizes["coral"]  # fp16 vs int8 weights
    swaps = pd.DataFrame(run.log.tables["model_swaps"])
    assert len(swaps) and (swaps["variant"] == swaps["group"].map({"coral": "int8", "rpi": "fp16"})).all()


def test_retraining_re_makes_exactly_the_variants_it_can_export():
    assert FINE_TUNABLE == REEXPORT


def test_a_job_re_makes_each_variant_from_its_one_fine_tune():
    initial = {v: variant_path(v) for v in ("int8_per_tensor", "int8_qat", "fp32")}
    archive = SampleArchive()
    frames = render_dataset(16, 11, Conditions.uniform(16, daylight=0.05), purpose="fleet_night")
    archive.add(frames, np.arange(16))
    tuner = FineTuner(FineTune(replay=0.0, validation_frames=8), archive, seed=4, threads=1, batch_size=8,
                      initial=initial)
    tuned = tuner.fine_tune(1, list(range(16)), epochs=1)
    assert {v: model_precision(p) for v, p in tuned.paths.items()} == {
        "int8_per_tensor": "int8", "int8_qat": "int8", "fp32": "fp32"}
    assert tuned.size_bytes == sum(p.stat().st_size for p in tuned.paths.values())
    per_tensor, qat = (tuned.paths[v].read_bytes() for v in ("int8_per_tensor", "int8_qat"))
    assert per_tensor != qat  # one scale per tensor vs a quantization-aware epoch
