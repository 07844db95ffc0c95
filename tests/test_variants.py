"""Each group runs its own detector variant: chosen, run, re-made by retraining, downloaded."""

from __future__ import annotations

from dataclasses import fields
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fleetsim.cloud import finetune
from fleetsim.cloud.finetune import REEXPORT, FineTuner, trained_work
from fleetsim.cloud.rollout import Downloads
from fleetsim.detector import training
from fleetsim.detector.baseline import baseline_path
from fleetsim.detector.compression import RECIPE_FRAMES, own_model, weights_path
from fleetsim.detector.dataset import SampleArchive, clear_day, render_dataset
from fleetsim.detector.export import export_int8
from fleetsim.detector.profile import profile
from fleetsim.detector.runtime import model_precision
from fleetsim.detector.variants import OWN_WEIGHTS, teacher_path, variant_path
from fleetsim.edge import detection
from fleetsim.engine import Run, costed_workload, download_bytes
from fleetsim.hardware.graph import workload_from_graph
from fleetsim.hardware.training import training_flops
from fleetsim.metrics.accuracy import stack_records
from fleetsim.scenario.cloud import FineTune
from fleetsim.scenario.models import Scenario
from fleetsim.scenario.references import FINE_TUNABLE, check_references
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
    records = stack_records(run.detection.records)
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
    assert (*REEXPORT, *OWN_WEIGHTS) == FINE_TUNABLE
    assert all(weights_path(v).is_file() for v in OWN_WEIGHTS)


@pytest.mark.parametrize("variant", ["pruned50_int8", "student25_kd_int8"])
def test_shipped_weights_are_the_ones_the_shipped_file_was_exported_from(variant, tmp_path):
    """Exported with the build's calibration frames, the shipped torch weights give the shipped file."""
    recipe = clear_day(RECIPE_FRAMES, 1)
    frames = render_dataset(256, 1, Conditions(*(getattr(recipe, f.name)[:256] for f in fields(Conditions))))
    exported = export_int8(own_model(variant), tmp_path / "again.onnx", frames.images)
    assert exported.read_bytes() == variant_path(variant).read_bytes()


def test_a_retraining_fleet_may_run_pruned_variants_and_students_but_not_files_without_weights(catalog):
    ok = Scenario.model_validate(_mixed(fleet__groups__0__variant="pruned50_int8",
                                        fleet__groups__1__precision="int8",
                                        fleet__groups__1__variant="student25_kd_int8"))
    assert check_references(ok, catalog) == []
    refused = Scenario.model_validate(_mixed(fleet__groups__0__variant="pruned_int8"))
    [(where, message)] = check_references(refused, catalog)
    assert where == ("fleet", "groups", 0, "variant")
    assert "'pruned_int8' has none (allowed with cloud.retraining: int8, fp32" in message


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


def _archive(n: int = 16) -> SampleArchive:
    archive = SampleArchive()
    frames = render_dataset(n, 11, Conditions.uniform(n, daylight=0.05), purpose="fleet_night")
    archive.add(frames, np.arange(n))
    return archive


def _tuner(*variants: str) -> FineTuner:
    return FineTuner(FineTune(replay=0.0, validation_frames=8, min_gain=-1.0), _archive(), seed=4, threads=1,
                     batch_size=8, initial={v: variant_path(v) for v in variants})


def test_a_job_fine_tunes_each_pruned_variant_and_student_from_its_own_weights(monkeypatch):
    monkeypatch.setattr(FineTuner, "overlaps", False)  # the rollback below is done when it returns
    tuner = _tuner("pruned50_int8", "student25_gt_int8")
    shipped = {v: own_model(v).state_dict() for v in ("pruned50_int8", "student25_gt_int8")}
    tuned = tuner.fine_tune(1, list(range(16)), epochs=1)
    assert "model" not in tuner.__dict__  # no variant made from the baseline's weights: it is never read
    for variant, path in tuned.paths.items():
        again, before = profile(path), profile(variant_path(variant))
        assert model_precision(path) == "int8" and (again.macs, again.params) == (before.macs, before.params)
        assert again.sha256 != before.sha256
        weights = tuner.own_models[variant].state_dict()  # passed the gate: the next job starts from them
        assert any(not np.array_equal(weights[k], shipped[variant][k]) for k in weights)
    tuner.rollback(1)
    assert all(np.array_equal(tuner.own_models["pruned50_int8"].state_dict()[k], w)
               for k, w in shipped["pruned50_int8"].items())


def test_a_distilled_student_distils_again_from_the_teacher_with_the_builds_loss(monkeypatch):
    calls = {"distillation_loss": 0, "teacher_frames": 0}
    loss, heads = training.distillation_loss, finetune.teacher_heads

    def counting_loss(*args):
        calls["distillation_loss"] += 1
        return loss(*args)

    def counting_heads(images):
        calls["teacher_frames"] += len(images)
        return heads(images)

    monkeypatch.setattr(training, "distillation_loss", counting_loss)
    monkeypatch.setattr(finetune, "teacher_heads", counting_heads)
    tuner = _tuner("student25_kd_int8")
    distilled = tuner.fine_tune(1, list(range(16)), epochs=1).paths["student25_kd_int8"].read_bytes()
    assert calls == {"distillation_loss": 1, "teacher_frames": 16}  # one batch: the job's 16 frames, once
    monkeypatch.setattr(finetune, "distils", lambda variant: False)  # the same start on ground truth alone
    tuner = _tuner("student25_kd_int8")
    alone = tuner.fine_tune(1, list(range(16)), epochs=1).paths["student25_kd_int8"].read_bytes()
    assert calls["distillation_loss"] == 1
    assert distilled != alone


def test_a_job_is_costed_on_what_it_trains(catalog):
    graph = {v: workload_from_graph(variant_path(v))
             for v in ("int8", "fp32", "pruned50_int8", "student25_kd_int8")}
    teacher = workload_from_graph(teacher_path())
    one = trained_work({"int8": graph["int8"]}, lambda: teacher)
    assert training_flops(one, 100, 3) == training_flops(graph["int8"], 100, 3)  # bit for bit, as before
    assert graph["int8"].macs == graph["fp32"].macs  # the fine-tune's fp32 network costs the same
    mixed = trained_work({"pruned50_int8": graph["pruned50_int8"], "int8_qat": graph["int8"],
                          "student25_kd_int8": graph["student25_kd_int8"]}, lambda: teacher)
    per_epoch = graph["int8"].macs + graph["pruned50_int8"].macs + graph["student25_kd_int8"].macs
    expected = 3 * 2 * 100 * (3 * per_epoch + graph["int8"].macs) + 2 * 100 * teacher.macs
    assert training_flops(mixed, 100, 3) == pytest.approx(expected)
    assert mixed.params == 81704 + 81704 + 20696 + 5312  # fine-tune, QAT copy, pruned, student


def test_a_pruned_group_with_a_production_workload_is_costed_compressed(catalog):
    """Both groups on a Raspberry Pi 4 (compute bound): the pruned group's layer time is the int8
    group's scaled by the pruned graph's share of the baseline graph's MACs; the call's overhead stays."""
    scenario = Scenario.model_validate(with_overrides(
        small_scenario_data(), fleet__groups__0__accelerator="rpi4_cpu", fleet__groups__0__deadline="200 ms",
        fleet__groups__1__variant="pruned50_int8", cloud__retraining={"kind": "never"}))
    run = Run(scenario, catalog)
    production = catalog.profile("ssd_mobilenet_v2_300")
    assert run.workloads["int8"] is production
    ratio = 12220416 / 47665152  # the pruned50 graph's MACs over the baseline's
    assert run.workloads["pruned50_int8"].macs == pytest.approx(production.macs * ratio, rel=1e-3)
    cost = {v.spec.name: v.inference for v in run.vehicles}
    assert cost["rpi"].latency_s < cost["coral"].latency_s
    assert cost["rpi"].layers_s == pytest.approx(cost["coral"].layers_s * ratio, rel=0.05)
    assert cost["rpi"].overhead_s == cost["coral"].overhead_s


def test_offloaded_frames_are_costed_on_their_groups_variant(catalog):
    data = small_scenario_data()
    data["network"]["mec"] = [{"name": "edge", "cells": ["town_lte"], "accelerator": "l4", "latency": "5 ms",
                               "source": "test"}]
    scenario = Scenario.model_validate(with_overrides(
        data, simulation__duration="1 min", fleet__groups__0__placement="mec",
        fleet__groups__1__placement="mec", fleet__groups__1__variant="pruned50_int8",
        cloud__retraining={"kind": "never"}))
    run = Run(scenario, catalog)
    run.execute(None)
    [site] = run.offloading.all_sites()
    int8, pruned = (list(run.workloads).index(v) for v in ("int8", "pruned50_int8"))
    assert site.costs[pruned].latency_s < site.costs[int8].latency_s
    assert set(site.served_by_variant) == {int8, pruned}
    assert site.served == sum(site.served_by_variant.values())
    for k, served in site.served_by_variant.items():  # each frame served in its own variant's time
        assert site.busy_by_variant[k] == pytest.approx(served * site.costs[k].latency_s)
    mean = sum(site.costs[k].latency_s * n for k, n in site.served_by_variant.items()) / site.served
    assert site.latency_s == pytest.approx(mean)


@pytest.mark.slow
def test_a_fleet_of_a_pruned_variant_and_a_distilled_student_retrains_both(catalog):
    scenario = Scenario.model_validate(with_overrides(
        small_scenario_data(), simulation__duration="5 min", fleet__groups__0__variant="pruned50_int8",
        fleet__groups__1__variant="student25_kd_int8",
        cloud__fine_tune={"min_gain": -1.0, "validation_frames": 8}))
    run = Run(scenario, catalog)
    run.execute(None)
    paths = run.registry.paths
    assert len(paths) > 1
    for version in list(paths)[1:]:  # each retrain re-made both at int8, each with its own graph
        assert {v: (model_precision(p), profile(p).macs) for v, p in paths[version].items()} == {
            v: ("int8", profile(variant_path(v)).macs) for v in ("pruned50_int8", "student25_kd_int8")}
    costed = partial(costed_workload, scenario, catalog, teacher_path(), run.baseline_graph)
    work = trained_work(run.workloads, costed)  # what the run's cluster costed each job on
    teacher = workload_from_graph(teacher_path())
    assert work.every_epoch == (run.workloads["pruned50_int8"], run.workloads["student25_kd_int8"])
    assert work.one_epoch == () and [w.macs for w in work.forward] == pytest.approx(
        [catalog.profile("ssd_mobilenet_v2_300").macs * teacher.macs / 47665152], rel=1e-3)
    jobs = pd.DataFrame(run.log.tables["training_jobs"])
    assert len(jobs) and list(jobs["flops"]) == [training_flops(work, n, e) for n, e in
                                                 zip(jobs["samples"], jobs["epochs"], strict=True)]
