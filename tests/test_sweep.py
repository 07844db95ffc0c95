"""fleetsim.sweep: expansion and seeds, overrides, validation before running, local and
Ray backends, confidence intervals, resume and failed runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from typer.testing import CliRunner

from fleetsim.cli import app
from fleetsim.errors import ScenarioError
from fleetsim.sweep import derived_seed, expand_cases, load_sweep, plan_sweep, run_sweep
from fleetsim.sweep import runner as sweep_runner
from fleetsim.sweep.backends import InlineBackend, LocalBackend, RayBackend
from fleetsim.sweep.overrides import OverrideError, apply_overrides, canonical, parse_path
from fleetsim.sweep.tables import mean_ci, metric_value
from tests.conftest import small_scenario_data

ROOT = Path(__file__).resolve().parents[1]
METRICS = ["latency_ms.p99", "energy.per_frame_mj", "accuracy.map50_mean", "groups.coral.frames.generated",
           "groups.coral.latency_ms.p99"]


def tiny_base() -> dict:
    """The shared small scenario cut to one simulated minute and no retraining."""
    data = small_scenario_data()
    data["simulation"]["duration"] = "1 min"
    data["cloud"]["retraining"] = {"kind": "never"}
    data["detector"]["detect_every"] = 300
    data["outputs"]["frame_table"] = False
    data["world"]["conditions"]["weather"] = []
    return data


def write_sweep(folder: Path, **spec) -> Path:
    (folder / "base.yaml").write_text(yaml.safe_dump(tiny_base(), sort_keys=False), encoding="utf-8")
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump({"base": "base.yaml", **spec}, sort_keys=False), encoding="utf-8")
    return path


TINY = {"grid": {"fleet.groups[0].accelerator": ["coral_usb", "jetson_orin_nano"]},
        "replications": 2, "seed": 5, "metrics": METRICS}


# --- expansion and seeds -------------------------------------------------------------

def test_grid_times_cases_times_replications(tmp_path, catalog):
    path = write_sweep(tmp_path, grid={"fleet.groups[0].count": [1, 2, 3],
                                       "fleet.groups.1.cameras.0.fps": ["5 Hz", "10 Hz"]},
                       cases=[{"detector.detect_every": 100}, {"detector.detect_every": 200}],
                       replications=3, seed=11)
    plan = plan_sweep(load_sweep(path), catalog)
    assert len(plan.cases) == 3 * 2 * 2
    assert len(plan.runs) == 3 * 2 * 2 * 3
    assert plan.parameters == ["detector.detect_every", "fleet.groups[0].count",
                               "fleet.groups[1].cameras[0].fps"]
    seeds = [r.seed for r in plan.runs]
    assert len(set(seeds)) == len(seeds)
    assert len({r.run_id for r in plan.runs}) == len(plan.runs)
    again = plan_sweep(load_sweep(path), catalog)
    assert [(r.run_id, r.seed) for r in again.runs] == [(r.run_id, r.seed) for r in plan.runs]
    # a case keeps its seeds when the grid around it changes
    assert derived_seed(11, plan.cases[0].overrides, 1) == plan.runs[1].seed
    assert derived_seed(12, plan.cases[0].overrides, 1) != plan.runs[1].seed


def test_expand_without_grid_or_cases_is_the_base_alone():
    assert expand_cases({}, []) == [{}]
    assert expand_cases({"a": [1, 2]}, []) == [{"a": 1}, {"a": 2}]
    assert expand_cases({}, [{"b": 1}]) == [{"b": 1}]


# --- overrides -----------------------------------------------------------------------

def test_override_paths_both_spellings():
    assert parse_path("fleet.groups[0].cameras[1].fps") == ("fleet", "groups", 0, "cameras", 1, "fps")
    assert parse_path("fleet.groups.0.cameras.1.fps") == ("fleet", "groups", 0, "cameras", 1, "fps")
    assert canonical("fleet.groups.0.count") == "fleet.groups[0].count"
    data = tiny_base()
    out = apply_overrides(data, {"fleet.groups.1.cameras[0].fps": "3 Hz", "simulation.mode": "reference"})
    assert out["fleet"]["groups"][1]["cameras"][0]["fps"] == "3 Hz"
    assert out["simulation"]["mode"] == "reference"
    assert data["fleet"]["groups"][1]["cameras"][0]["fps"] == "10 Hz"  # the base is not changed


@pytest.mark.parametrize(("path", "words"), [
    ("fleet.groups[5].count", ["fleet.groups has 2 entries", "index 5"]),
    ("fleet.grups.count", ["fleet.grups does not exist", "groups"]),
    ("simulation.duration.unit", ["simulation.duration is a value"]),
    ("fleet..count", ["malformed path"]),
])
def test_bad_override_paths(path, words):
    with pytest.raises(OverrideError) as err:
        apply_overrides(tiny_base(), {path: 1})
    for word in words:
        assert word in str(err.value)


def test_bad_paths_are_reported_at_their_line_in_the_sweep_file(tmp_path, catalog):
    path = write_sweep(tmp_path, grid={"fleet.groups[0].count": [1], "fleet.groups[9].count": [1]},
                       cases=[{"cloud.nonsense.x": 1}])
    with pytest.raises(ScenarioError) as err:
        plan_sweep(load_sweep(path), catalog)
    text = str(err.value)
    assert f"{path}:5: grid.fleet.groups[9].count: fleet.groups has 2 entries" in text
    assert "cases[0].cloud.nonsense.x: cloud.nonsense does not exist" in text
    # a new last key is handed to the scenario schema, which names what is allowed
    path = write_sweep(tmp_path, grid={"simulation.sed": [1]})
    with pytest.raises(ScenarioError, match=r"unknown key 'sed' \(did you mean 'seed'"):
        plan_sweep(load_sweep(path), catalog)


def test_sweep_file_schema_errors(tmp_path):
    path = write_sweep(tmp_path, grid={"fleet.groups[0].count": [], "simulation.seed": [1, 2]},
                       replications=0,
                       metrics=["latency_ms.p99", "latency_ms.p100", "run.mode"], extra=1)
    with pytest.raises(ScenarioError) as err:
        load_sweep(path)
    text = str(err.value)
    assert "grid: grid.fleet.groups[0].count: no values" in text
    assert "replications: 0 is out of range (allowed: > 0)" in text
    assert "unknown metric 'latency_ms.p100'" in text and "'run.mode' is not a number" in text
    assert "unknown key 'extra'" in text and "simulation.seed cannot be swept" in text


# --- validation before running -------------------------------------------------------

def test_an_invalid_case_stops_the_sweep_before_anything_runs(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(sweep_runner, "_simulate", lambda scenario, seed: calls.append(seed))
    path = write_sweep(tmp_path, grid={"fleet.groups[0].accelerator": ["coral_usb", "warp_drive"],
                                       "fleet.groups[0].count": [2, -1]},
                       metrics=["latency_ms.p99", "groups.nope.latency_ms.p99"])
    result = CliRunner().invoke(app, ["sweep", str(path), "--out", str(tmp_path / "out"), "--workers", "1"])
    assert result.exit_code == 2, result.output
    assert calls == [] and not (tmp_path / "out").exists()
    out = result.output
    assert ("[case 1: fleet.groups[0].accelerator=coral_usb, fleet.groups[0].count=-1] "
            "-1 is out of range") in out
    assert ("fleet.groups[0].accelerator=warp_drive, fleet.groups[0].count=2] "
            "unknown edge hardware model") in out
    assert "metric 'groups.nope.latency_ms.p99': no group 'nope'" in out
    assert "Traceback" not in out


# --- running, tables, resume, failures -------------------------------------------------

@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory, catalog):
    """The tiny sweep on a two-process local pool (shared by the checks below)."""
    folder = tmp_path_factory.mktemp("sweep")
    path = write_sweep(folder, **TINY)
    return run_sweep(path, folder / "out", LocalBackend(workers=2), catalog=catalog)


def test_local_sweep_writes_tidy_tables(local_sweep):
    out = local_sweep.out_dir
    results = pd.read_parquet(out / "results.parquet")
    assert len(results) == 4 and set(results["status"]) == {"ok"}
    assert list(results["fleet.groups[0].accelerator"]) == ["coral_usb"] * 2 + ["jetson_orin_nano"] * 2
    assert {"run_id", "case", "replication", "seed", *METRICS} <= set(results.columns)
    assert results["seed"].nunique() == 4
    for _, row in results.iterrows():
        summary = json.loads((out / "runs" / row["run_id"] / "summary.json").read_text())
        assert summary["run"]["seed"] == row["seed"]
        assert row["latency_ms.p99"] == summary["latency_ms"]["p99"]
        assert row["groups.coral.frames.generated"] == summary["groups"]["coral"]["frames"]["generated"]
    summary = pd.read_parquet(out / "summary.parquet")
    assert len(summary) == 2 * len(METRICS)
    for (case, metric), row in summary.set_index(["case", "metric"]).iterrows():
        values = results.loc[results["case"] == case, metric].to_numpy()
        n = len(values)
        half = stats.t.ppf(0.975, n - 1) * np.std(values, ddof=1) / math.sqrt(n)
        assert row["n"] == n == 2
        assert row["mean"] == pytest.approx(values.mean())
        assert row["ci95"] == pytest.approx(half, nan_ok=True)
        assert row["ci95_high"] == pytest.approx(values.mean() + half)
    # the group with the faster accelerator has the lower latency in every replication
    by_acc = results.groupby("fleet.groups[0].accelerator")["groups.coral.latency_ms.p99"].max()
    assert by_acc["jetson_orin_nano"] < by_acc["coral_usb"]


def test_rerunning_skips_finished_runs(local_sweep, monkeypatch, catalog):
    plan = local_sweep.plan
    calls = []
    real = sweep_runner._simulate
    monkeypatch.setattr(sweep_runner, "_simulate", lambda s, seed: calls.append(seed) or real(s, seed))
    again = run_sweep(plan.sweep, local_sweep.out_dir, InlineBackend(), catalog=catalog)
    assert calls == [] and again.executed == [] and len(again.skipped) == 4
    pd.testing.assert_frame_equal(again.results.drop(columns="wall_s"),
                                  local_sweep.results.drop(columns="wall_s"))
    victim = plan.runs[2]
    (local_sweep.out_dir / "runs" / victim.run_id / "summary.json").unlink()
    third = run_sweep(plan.sweep, local_sweep.out_dir, InlineBackend(), catalog=catalog)
    assert third.executed == [victim.run_id] and calls == [victim.seed]
    pd.testing.assert_frame_equal(third.results.drop(columns="wall_s"),
                                  local_sweep.results.drop(columns="wall_s"))


def test_a_failed_run_is_reported_and_the_others_are_kept(tmp_path):
    # a model file that does not exist passes validation and fails when the run starts
    path = write_sweep(tmp_path, cases=[{"detector.model": "int8"}, {"detector.model": "missing.onnx"}],
                       seed=3, metrics=["latency_ms.p99"])
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["sweep", str(path), "--out", str(out), "--workers", "1", "-q"])
    assert result.exit_code == 1
    failures = [line for line in result.output.splitlines() if line.startswith("failed")]
    assert len(failures) == 1
    assert "detector.model=missing.onnx" in failures[0] and "neither a baseline variant" in failures[0]
    assert "Traceback" not in result.output
    results = pd.read_parquet(out / "results.parquet")
    assert list(results["status"]) == ["ok", "failed"]
    assert math.isfinite(results["latency_ms.p99"][0]) and math.isnan(results["latency_ms.p99"][1])
    failed = results["run_id"][1]
    assert "Traceback" in (out / "runs" / failed / "error.txt").read_text()
    assert not (out / "runs" / failed / "summary.json").exists()
    summary = pd.read_parquet(out / "summary.parquet")
    assert list(summary["failed"]) == [0, 1] and list(summary["n"]) == [1, 0]


def test_an_exception_in_a_run_does_not_stop_the_sweep(tmp_path, monkeypatch, catalog):
    def flaky(scenario, seed):
        if scenario.fleet.groups[0].count == 2:
            raise RuntimeError("boom\nsecond line")
        return {"latency_ms": {"p99": float(seed % 7)}}

    monkeypatch.setattr(sweep_runner, "_simulate", flaky)
    path = write_sweep(tmp_path, grid={"fleet.groups[0].count": [1, 2, 3]}, replications=2,
                       metrics=["latency_ms.p99"])
    outcome = run_sweep(path, tmp_path / "out", InlineBackend(), catalog=catalog)
    assert len(outcome.failed) == 2 and len(outcome.executed) == 6
    assert set(outcome.results.loc[outcome.results["status"] == "failed", "error"]) == {
        "RuntimeError: boom second line"}
    ok = outcome.results[outcome.results["status"] == "ok"]
    assert list(ok["latency_ms.p99"]) == [float(s % 7) for s in ok["seed"]]


def test_metric_values_and_ci_helpers():
    assert metric_value({"a": {"b": 2}}, "a.b") == 2.0
    assert math.isnan(metric_value({"a": {"b": None}}, "a.b"))
    assert math.isnan(metric_value({"a": {}}, "a.b.c"))
    ci = mean_ci([1.0, 2.0, float("nan"), 4.0])
    assert ci["n"] == 3 and ci["mean"] == pytest.approx(7 / 3)
    assert ci["ci95"] == pytest.approx(stats.t.ppf(0.975, 2) * np.std([1, 2, 4], ddof=1) / math.sqrt(3))
    assert math.isnan(mean_ci([1.0])["ci95"])


# --- the shipped sweep and the Ray backend --------------------------------------------------

def test_shipped_quick_sweep_is_valid(catalog):
    plan = plan_sweep(load_sweep(ROOT / "scenarios" / "sweeps" / "quick.yaml"), catalog)
    assert len(plan.runs) == 12


def test_ray_backend_on_a_local_instance_matches_local(local_sweep, tmp_path, catalog):
    pytest.importorskip("ray")
    outcome = run_sweep(local_sweep.plan.sweep, tmp_path / "ray", RayBackend(workers=2), catalog=catalog)
    assert len(outcome.executed) == 4 and not outcome.failed
    pd.testing.assert_frame_equal(outcome.results.drop(columns="wall_s"),
                                  local_sweep.results.drop(columns="wall_s"))
