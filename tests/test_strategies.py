"""The four "where to train, where to infer" strategies stay one fleet, and their comparison is right.

scenarios/strategies/ holds the same fleet, workload, network and world with only the edge
accelerator and precision and the training cluster's device changed; table.py ranks the
strategies per metric from their figures.
"""

from __future__ import annotations

import copy
import importlib.util
import sys

import pandas as pd
import pytest

import fleetsim
from fleetsim.hardware.catalog import load_catalog
from fleetsim.scenario.loader import load_scenario
from fleetsim.scenario.models import Scenario
from tests.conftest import ROOT

STUDY = ROOT / "scenarios" / "strategies"
CHOICES = {  # strategy: (edge accelerator, precision, training device)
    "cpu_cpu": ("rpi5_cpu", "int8", "cpu_server"),
    "tpu_train_gpu_edge": ("jetson_orin_nano", "fp16", "tpu_v5e"),
    "gpu_gpu": ("jetson_orin_nano", "fp16", "a100"),
    "gpu_train_edgetpu": ("coral_devboard", "int8", "a100"),
}


def _load_table():
    spec = importlib.util.spec_from_file_location("strategies_table", STUDY / "table.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


table = _load_table()


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def dumped(catalog) -> dict[str, dict]:
    return {n: load_scenario(STUDY / f"{n}.yaml", catalog).model_dump(mode="json") for n in CHOICES}


def _without_strategy(doc: dict) -> dict:
    """The scenario with the fields a strategy may change blanked out."""
    doc = copy.deepcopy(doc)
    del doc["name"], doc["description"]
    for group in doc["fleet"]["groups"]:
        del group["accelerator"], group["precision"]
    for cluster in doc["cloud"]["clusters"]:
        del cluster["device"]
    return doc


def test_study_holds_exactly_these_scenarios():
    assert sorted(p.stem for p in STUDY.glob("*.yaml")) == sorted(CHOICES)
    assert tuple(CHOICES) == table.STRATEGIES


def test_strategies_differ_only_in_edge_hardware_and_training_device(dumped):
    base = _without_strategy(dumped["gpu_gpu"])
    for name, doc in dumped.items():
        assert _without_strategy(doc) == base, name
        assert doc["name"] == f"strategies_{name}"


@pytest.mark.parametrize("name", sorted(CHOICES))
def test_each_strategy_makes_its_hardware_choice(dumped, name):
    accelerator, precision, trainer = CHOICES[name]
    doc = dumped[name]
    assert {(g["accelerator"], g["precision"]) for g in doc["fleet"]["groups"]} == {(accelerator, precision)}
    assert [c["device"] for c in doc["cloud"]["clusters"]] == [trainer]
    assert Scenario.model_validate(doc).variants() == [precision]  # the detector really runs at it
    assert doc["cloud"]["retraining"]["kind"] != "never"
    assert table.describe(doc) == {"trains on": trainer, "infers on": f"{accelerator} {precision}"}


def _rows(**columns) -> dict[str, dict]:
    """Hand-made figures: ``metric=(a, b, c)`` for strategies a, b and c."""
    return {name: {key: values[i] for key, values in columns.items()} for i, name in enumerate("abc")}


def _metric(key: str) -> table.Metric:
    return next(m for m in table.METRICS if m.key == key)


def test_lower_is_better_picks_the_smallest_and_the_runner_up():
    w = table.winner(_rows(p99_ms=(40.7, 2.1, 15.3)), _metric("p99_ms"))
    assert (w.best, w.value, w.runner_up, w.runner_up_value, w.unranked) == (("b",), 2.1, ("c",), 15.3, ())


def test_higher_is_better_picks_the_largest():
    w = table.winner(_rows(map50=(0.49, 0.51, 0.50)), _metric("map50"))
    assert (w.best, w.runner_up) == (("b",), ("c",))


def test_equal_figures_tie_and_share_the_place():
    w = table.winner(_rows(p99_ms=(2.089, 2.089, 15.3)), _metric("p99_ms"))
    assert (w.best, w.runner_up) == (("a", "b"), ("c",))
    assert "a = b (tie)" in table.winner_line(w)


def test_a_missing_figure_is_not_ranked_and_never_wins():
    w = table.winner(_rows(fleet_usd=(480.0, None, float("nan"))), _metric("fleet_usd"))
    assert (w.best, w.value, w.runner_up, w.unranked) == (("a",), 480.0, (), ("b", "c"))
    assert "not ranked (figure missing): b, c" in table.winner_line(w)


def test_no_figure_at_all_gives_no_winner():
    w = table.winner(_rows(fleet_usd=(None, None, None)), _metric("fleet_usd"))
    assert w.best == () and "no strategy has this figure" in table.winner_line(w)


def test_zero_best_value_prints_without_a_ratio():
    w = table.winner(_rows(miss_rate=(0.0, 0.0, 0.15)), _metric("miss_rate"))
    assert w.best == ("a", "b")
    assert table.winner_line(w).endswith("next c, 0.1500")


def test_figures_read_the_summary_and_the_job_durations():
    summary = {
        "retraining": {"jobs": 2, "deployments": 1, "rollbacks": 0, "cloud_energy_j": 5000.0,
                       "cloud_kwh": 5000 / 3.6e6, "cloud_cost_usd": 0.05},
        "latency_ms": {"p99": 2.0, "deadline_miss_rate": 0.0},
        "energy": {"per_frame_mj": 130.0},
        "hardware": {"fleet_usd": None, "accelerator_usd": 1040.0, "unpriced": ["coral_devboard_cpu"]},
        "accuracy": {"map50_mean": 0.5},
        "run": {"wall_s": 60.0},
    }
    jobs = pd.DataFrame({"t_submit_s": [100.0, 200.0], "t_start_s": [100.0, 210.0],
                         "t_end_s": [150.0, 270.0]})
    row = table.figures(summary, jobs)
    assert row["training_s"] == 60.0  # mean of 50 s and 70 s, queueing included
    assert (row["cloud_kj"], row["fleet_usd"], row["unpriced"]) == (5.0, None, "coral_devboard_cpu")
    assert table.figures(summary, jobs.iloc[:0])["training_s"] is None


@pytest.mark.slow
def test_a_short_run_of_the_four_compares_their_edge_hardware(catalog):
    """Two simulated minutes (no retraining yet): the edge figures follow the hardware models."""
    rows, where = {}, {}
    for name in CHOICES:
        doc = load_scenario(STUDY / f"{name}.yaml", catalog).model_dump(mode="json")
        doc["simulation"]["duration"] = "2 min"
        results = fleetsim.run(Scenario.model_validate(doc), catalog=catalog)
        rows[name] = table.figures(results.summary, results.tables["training_jobs"])
        where[name] = table.describe(doc)
    by_metric = {w.metric.key: w for w in table.winners(rows)}
    assert by_metric["p99_ms"].best == ("tpu_train_gpu_edge", "gpu_gpu")  # the same Orin Nano at fp16
    assert by_metric["fleet_usd"].best == ("cpu_cpu",)  # a Raspberry Pi 5 per vehicle
    assert by_metric["fleet_usd"].unranked == tuple(n for n, r in rows.items() if r["fleet_usd"] is None)
    assert by_metric["training_s"].best == ()  # no job in 2 minutes
    text = table.markdown(rows, where)
    assert sum(line.startswith("| ") for line in text.splitlines()) == len(CHOICES) + 1  # header + rows
    assert "Winners" in text
