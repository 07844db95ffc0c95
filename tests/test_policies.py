"""Python policies take each decision in place of the scenario's, see typed read-only
observations, and an action they may not take is a one-line error naming them."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import yaml

import fleetsim
from fleetsim.digests import without_wall_times
from fleetsim.edge.placing import ScenarioPlacement
from fleetsim.policies import (
    HOLD,
    Canary,
    CanaryObservation,
    Placement,
    PlacementObservation,
    PolicyError,
    Retraining,
    RetrainingObservation,
    UploadAction,
)
from fleetsim.scenario.models import Scenario
from tests.conftest import ROOT, small_scenario_data, with_overrides


def tiny_data(**overrides) -> dict:
    """Two vehicles for four simulated minutes, a job possible every minute."""
    return with_overrides(small_scenario_data(), **{
        "simulation__duration": "4 min", "fleet__groups__0__count": 1, "fleet__groups__1__count": 1,
        "cloud__retraining": {"kind": "periodic", "interval": "1 min", "cluster": "gpus", "min_samples": 3},
        "cloud__fine_tune": {"validation_frames": 16}, **overrides})


class EveryFewSamples:
    """Train once ``needed`` new samples are labelled; keeps what it saw."""

    check_every_s = 60.0

    def __init__(self, needed: int):
        self.needed = needed
        self.seen: list[RetrainingObservation] = []

    def decide(self, obs: RetrainingObservation) -> Retraining:
        self.seen.append(obs)
        return Retraining.TRAIN if obs.new_samples >= self.needed else Retraining.WAIT


class AlwaysRollBack:
    def __init__(self):
        self.seen: list[CanaryObservation] = []

    def decide(self, obs: CanaryObservation) -> Canary:
        self.seen.append(obs)
        return Canary.ROLLBACK


class OneAtATimeNoRpi:
    def decide(self, obs) -> UploadAction:
        return HOLD if obs.group == "rpi" else UploadAction(limit=1)


class RearCameraOnCorals:
    def select(self, frames) -> np.ndarray:
        assert not frames.uncertainty.flags.writeable
        return np.flatnonzero(frames.camera == 1) if frames.group == "coral" else np.arange(len(frames))


@pytest.mark.slow
def test_python_policies_take_each_decision():
    data = tiny_data(simulation__duration="5 min",
                     cloud__rollout={"canary_fraction": 0.5, "canary_period": "30 s"})
    trigger, canary = EveryFewSamples(2), AlwaysRollBack()
    results = fleetsim.run(Scenario.model_validate(data), policies={
        "retraining": trigger, "canary": canary, "uploads": OneAtATimeNoRpi(),
        "selection": RearCameraOnCorals()})
    times = [o.t_s for o in trigger.seen]
    assert times == [60.0, 120.0, 180.0, 240.0]  # asked every check_every_s within the run
    first = trigger.seen[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.new_samples = 0  # read-only
    with pytest.raises(TypeError):
        first.samples_by_condition["day/clear"] = 1  # a read-only mapping
    assert all(sum(o.samples_by_condition.values()) == o.retained_samples for o in trigger.seen)
    wanted = sum(o.new_samples >= 2 for o in trigger.seen)
    assert results.summary["retraining"]["jobs"] == wanted >= 1
    jobs_seen = [o.jobs_started for o in trigger.seen]
    assert jobs_seen == sorted(jobs_seen) and trigger.seen[-1].training_usd >= 0
    rollouts = results.tables["rollouts"]
    assert len(rollouts) == len(canary.seen) and set(rollouts["decision"]) <= {"rollback"}
    uploads = results.tables["uploads"]
    assert len(uploads) and (uploads["samples"] == 1).all() and set(uploads["group"]) == {"coral"}
    kept = results.tables["detections"].query("selected and group == 'coral'")
    assert len(kept) and (kept["camera"] == 1).all()


@pytest.mark.slow
def test_the_built_in_trigger_as_a_python_policy_gives_the_scenario_run():
    scenario = Scenario.model_validate(tiny_data())
    plain = fleetsim.run(scenario)
    mine = fleetsim.run(scenario, policies={"retraining": EveryFewSamples(3)})
    assert without_wall_times(mine.summary) == without_wall_times(plain.summary)


class Yes:
    check_every_s = 60.0

    def decide(self, obs):
        return "yes"


def test_an_invalid_action_is_one_line_naming_the_policy_and_the_allowed_values():
    with pytest.raises(PolicyError) as err:
        fleetsim.run(Scenario.model_validate(tiny_data()), policies={"retraining": Yes()})
    assert str(err.value) == ("policy Yes returned 'yes' (allowed: Retraining.WAIT, Retraining.TRAIN)")


@pytest.mark.parametrize(("policies", "message"), [
    ({"placing": Yes()}, r"policies: unknown decision 'placing' \(allowed: 'retraining', 'canary', "
                         r"'uploads', 'selection', 'placement'\)"),
    ({"placement": Yes()}, r"policies\['placement'\]: Yes does not implement PlacementPolicy \(needs "
                           r"decide_every_s and decide\(obs\)\)"),
    ({"selection": Yes()}, r"policies\['selection'\]: Yes does not implement SelectionPolicy \(needs "
                           r"select\(frames\)\)"),
])
def test_a_policy_must_name_a_decision_and_implement_its_protocol(policies, message):
    with pytest.raises(PolicyError, match=message):
        fleetsim.run(Scenario.model_validate(tiny_data()), policies=policies)


def test_a_python_trigger_needs_a_scenario_that_names_a_cluster():
    with pytest.raises(PolicyError, match=r"needs cloud.retraining to name a cluster \(allowed kinds: any "
                                          r"but 'never'\)"):
        fleetsim.run(Scenario.model_validate(tiny_data(cloud__retraining={"kind": "never"})),
                     policies={"retraining": EveryFewSamples(1)})


def test_upload_and_selection_answers_are_checked():
    from fleetsim.policies import CandidateFrames, checked_selection, checked_upload

    policy = Yes()
    assert checked_upload(policy, HOLD) is HOLD
    with pytest.raises(PolicyError, match=r"^policy Yes returned True \(allowed: an UploadAction"):
        checked_upload(policy, True)
    with pytest.raises(PolicyError, match=r"returned UploadAction\(send=True, min_priority=-inf, limit=-1\)"):
        checked_upload(policy, UploadAction(limit=-1))
    frames = CandidateFrames("v", "g", *(np.zeros(3),) * 4, condition=("day_clear",) * 3)
    assert checked_selection(policy, [2, 0], frames).tolist() == [2, 0]
    assert checked_selection(policy, [], frames).tolist() == []
    for wrong in ([0, 0], [3], [0.5], [[0]]):
        with pytest.raises(PolicyError, match=r"\(allowed: distinct integer indices 0\.\.2 of "):
            checked_selection(policy, wrong, frames)


def placement_scenario() -> Scenario:
    """The onboard / MEC / cloud scenario, one vehicle per group for one simulated minute."""
    data = yaml.safe_load((ROOT / "scenarios" / "placement_edge_vs_cloud.yaml").read_text(encoding="utf-8"))
    data["simulation"]["duration"] = "1 min"
    for group in data["fleet"]["groups"]:
        group["count"] = 1
    data["outputs"] = {"plots": False}
    return Scenario.model_validate(data)


class ScenariosOwnEvery20s:
    """The scenario's placement through a Python policy asked every 20 s; keeps what it saw."""

    decide_every_s = 20.0

    def __init__(self, scenario: Scenario):
        self.builtin = ScenarioPlacement(scenario)
        self.seen: list[PlacementObservation] = []

    def decide(self, obs: PlacementObservation) -> Placement:
        self.seen.append(obs)
        return self.builtin.decide(obs)


class OnboardToMecAt20s(ScenariosOwnEvery20s):
    """The onboard group moves to the MEC server from 20 s on; the MEC group detects onboard."""

    def decide(self, obs: PlacementObservation) -> Placement:
        if obs.group == "onboard":
            return Placement.MEC if obs.t_s >= 20 else Placement.ONBOARD
        return Placement.ONBOARD if obs.group == "mec" else super().decide(obs)


def test_a_placement_policy_keeping_the_scenarios_placement_gives_the_plain_run():
    scenario = placement_scenario()
    plain = fleetsim.run(scenario)
    policy = ScenariosOwnEvery20s(scenario)
    mine = fleetsim.run(scenario, policies={"placement": policy})
    assert without_wall_times(mine.summary) == without_wall_times(plain.summary)
    assert [(o.t_s, o.group) for o in policy.seen] == [
        (t, g) for t in (0.0, 20.0, 40.0) for g in ("onboard", "mec", "cloud")]
    first, later = policy.seen[0], policy.seen[-1]
    assert first.options == (Placement.ONBOARD, Placement.MEC, Placement.CLOUD)
    assert first.frames_per_s == 10.0 and first.vehicles == 1 and math.isnan(first.latency_s)
    assert later.placement is Placement.CLOUD and later.frames_done > 0 and later.latency_s > 0
    assert set(later.remote_queue) == {"roadside_l4", "us_east"}
    with pytest.raises(TypeError):
        later.remote_queue["us_east"] = 0  # a read-only mapping


def test_a_placement_policy_moves_where_a_groups_frames_run():
    scenario = placement_scenario()
    plain = fleetsim.run(scenario)
    moved = fleetsim.run(scenario, policies={"placement": OnboardToMecAt20s(scenario)})
    legs = moved.tables["latency_legs"].set_index(["group", "leg"])["frames"]
    # the onboard group: its first 20 s on its accelerator, the rest up to the MEC server
    assert 0 < legs["onboard", "queue"] < legs["onboard", "total"]
    assert legs["onboard", "queue"] + legs["onboard", "uplink"] == legs["onboard", "total"]
    assert set(legs["mec"].index) == {"capture", "queue", "preprocess", "transfer", "inference",
                                      "postprocess", "handoff", "total"}  # never left its vehicle
    groups = moved.summary["groups"]
    duration = scenario.simulation.duration
    assert groups["onboard"]["placement"] == "onboard"  # where it started; then the time in each
    assert {k: s for k, s in groups["onboard"]["placement_s"].items() if s} == {"onboard": 20.0,
                                                                                 "mec": duration - 20.0}
    assert plain.summary["groups"]["onboard"]["placement_s"]["onboard"] == duration
    assert groups["mec"]["privacy"]["offboard_frame_bytes"] == 0
    assert groups["onboard"]["privacy"]["offboard_frame_bytes"] > 0
    mec = moved.tables["inference_servers"].set_index("kind").loc["mec"]
    assert mec["frames_served"] == legs["onboard", "uplink"]
    frame_size = scenario.fleet.groups[0].offload.frame_size
    assert groups["onboard"]["privacy"]["offboard_frame_bytes"] == mec["frames_arrived"] * frame_size
    offboard = [r.summary["privacy"]["offboard_frame_bytes"] for r in (plain, moved)]
    assert offboard[0] != offboard[1]


class Offboard:
    decide_every_s = math.inf

    def __init__(self, answer):
        self.answer = answer

    def decide(self, obs):
        return self.answer


@pytest.mark.parametrize(("answer", "message"), [
    ("mec", "policy Offboard returned 'mec' for group 'coral' (allowed: Placement.ONBOARD)"),
    (Placement.CLOUD, "policy Offboard returned <Placement.CLOUD: 'cloud'> for group 'coral' "
                      "(allowed: Placement.ONBOARD)"),
])
def test_a_placement_the_scenario_does_not_offer_is_one_line(answer, message):
    with pytest.raises(PolicyError) as err:  # the small scenario has no MEC server nor cloud inference
        fleetsim.run(Scenario.model_validate(tiny_data()), policies={"placement": Offboard(answer)})
    assert str(err.value) == message


def test_a_placement_policy_needs_an_interval_and_the_vectorised_mode():
    never = Offboard(Placement.ONBOARD)
    never.decide_every_s = 0
    with pytest.raises(PolicyError, match=r"Offboard.decide_every_s is 0 \(allowed: a positive number"):
        fleetsim.run(Scenario.model_validate(tiny_data()), policies={"placement": never})
    reference = Scenario.model_validate(tiny_data(simulation__mode="reference"))
    with pytest.raises(PolicyError, match=r"Offboard needs simulation.mode: vectorised"):
        fleetsim.run(reference, policies={"placement": Offboard(Placement.ONBOARD)})
