"""The retraining-cadence study's scenarios stay one fleet with different policies.

scenarios/retraining_cadence/ holds the same fleet, network and world with only the
retraining policy (and, in the *_tpu files, the training cluster's device) changed; the
README's table compares them, so they must not drift apart.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetsim.hardware.catalog import load_catalog
from fleetsim.scenario.loader import load_scenario

STUDY = Path(__file__).resolve().parents[1] / "scenarios" / "retraining_cadence"
NAMES = ["never", "periodic", "drift", "periodic_tpu", "drift_tpu"]
TPU_TWINS = {"periodic_tpu": "periodic", "drift_tpu": "drift"}


@pytest.fixture(scope="module")
def scenarios() -> dict:
    catalog = load_catalog()
    return {n: load_scenario(STUDY / f"{n}.yaml", catalog) for n in NAMES}


@pytest.fixture(scope="module")
def resolved(scenarios) -> dict[str, dict]:
    return {n: s.model_dump(mode="json") for n, s in scenarios.items()}


def _shared(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k not in ("name", "description", "cloud")}


def _cloud_without_policy(doc: dict) -> dict:
    return {k: v for k, v in doc["cloud"].items() if k != "retraining"}


def test_study_holds_exactly_these_scenarios():
    assert sorted(p.stem for p in STUDY.glob("*.yaml")) == sorted(NAMES)


def test_every_variant_shares_fleet_network_world_and_seed(scenarios, resolved):
    assert scenarios["never"].simulation.duration == 3 * 86400.0
    base = _shared(resolved["never"])
    for name in NAMES:
        assert _shared(resolved[name]) == base, name
        assert resolved[name]["name"] == f"retraining_cadence_{name}"


def test_gpu_variants_differ_only_in_the_policy(resolved):
    base = _cloud_without_policy(resolved["never"])
    assert [c["device"] for c in base["clusters"]] == ["a100"]
    for name in ("periodic", "drift"):
        assert _cloud_without_policy(resolved[name]) == base, name
    kinds = {n: resolved[n]["cloud"]["retraining"]["kind"] for n in ("never", "periodic", "drift")}
    assert kinds == {"never": "never", "periodic": "periodic", "drift": "drift"}


def test_tpu_variants_differ_from_their_gpu_twins_only_in_the_device(resolved):
    for tpu, gpu in TPU_TWINS.items():
        t, g = resolved[tpu]["cloud"], resolved[gpu]["cloud"]
        assert [c["device"] for c in t["clusters"]] == ["tpu_v5e"]
        t_clusters = [{k: v for k, v in c.items() if k != "device"} for c in t["clusters"]]
        g_clusters = [{k: v for k, v in c.items() if k != "device"} for c in g["clusters"]]
        assert t_clusters == g_clusters, tpu
        assert {k: v for k, v in t.items() if k != "clusters"} == \
            {k: v for k, v in g.items() if k != "clusters"}, tpu
