"""The Gymnasium environment: check_env passes, episodes are deterministic per seed, and
agents (the built-in trigger, a random policy) give the same run as the scenario run
with the same decisions."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import fleetsim
from fleetsim import RecordedDetections
from fleetsim.digests import results_digests, without_wall_times
from fleetsim.gym import FEATURES, FleetEnv, RewardWeights, reward_of
from fleetsim.policies import PolicyError, Retraining
from fleetsim.scenario.models import Scenario
from tests.test_policies import tiny_data


def tiny_scenario(**overrides) -> Scenario:
    return Scenario.model_validate(tiny_data(**{"simulation__duration": "3 min", **overrides}))


class Replay:
    """A retraining policy that answers from a list (what an agent answered)."""

    check_every_s = 60.0

    def __init__(self, answers: list[int]):
        self.answers = list(answers)

    def decide(self, obs) -> Retraining:
        return Retraining.TRAIN if self.answers.pop(0) else Retraining.WAIT


def episode(env: FleetEnv, seed: int, choose) -> tuple[list[np.ndarray], list[int], float, dict]:
    """(observations, actions, last reward, summary) of one episode, ``choose(info)`` acting."""
    obs, info = env.reset(seed=seed)
    seen, actions = [obs], []
    while True:
        action = choose(info)
        actions.append(action)
        obs, reward, terminated, truncated, info = env.step(action)
        seen.append(obs)
        if terminated or truncated:
            return seen, actions, reward, env.results.summary


@pytest.mark.slow
def test_recorded_detections_give_the_full_runs_summary_and_tables_and_are_replayed():
    scenario = tiny_scenario()
    full = results_digests(fleetsim.run(scenario))  # summary and tables, host wall times left out
    recorded = RecordedDetections()
    first = fleetsim.run(scenario, detections=recorded)  # records every job (pixels rendered for samples)
    assert results_digests(first) == full and recorded.replayed == 0 and recorded.detected > 0
    again = fleetsim.run(scenario, detections=recorded)  # replays them: no rendering, no ONNX Runtime
    assert results_digests(again) == full
    assert recorded.replayed == recorded.detected == first.summary["accuracy"]["frames"]
    assert first.summary["samples"]["uploaded"] > 0  # selected samples had their pixels


@pytest.mark.slow
def test_the_environment_passes_gymnasiums_checks():
    env = FleetEnv(tiny_scenario())
    check_env(env, skip_render_check=True)
    assert env.observation_space.shape == (len(FEATURES),) and env.action_space.n == 2


@pytest.mark.slow
def test_the_built_in_trigger_as_an_agent_gives_the_scenario_run():
    scenario = tiny_scenario()
    env = FleetEnv(scenario)
    trigger = env.builtin_policy()
    _, actions, reward, summary = episode(
        env, scenario.simulation.seed, lambda i: int(trigger.decide(i["observation"]) is Retraining.TRAIN))
    plain = fleetsim.run(scenario)
    assert len(actions) == 2 and sum(actions) >= 1  # asked at 1 and 2 min; trained at least once
    assert without_wall_times(summary) == without_wall_times(plain.summary)
    assert reward == reward_of(plain.summary, RewardWeights())
    host = summary["run"]  # the episode's own host time, the waits within it
    assert host["training_wait_s"] + host["detection_wait_s"] <= host["wall_s"] <= env.sim_wall_s


@pytest.mark.slow
def test_a_random_agent_is_deterministic_per_seed_and_gives_the_run_of_its_decisions():
    scenario = tiny_scenario()
    env = FleetEnv(scenario, step="1 min", weights=RewardWeights(cloud_per_usd=2.0), fine_tunes="recorded",
                   detections="recorded")
    env.action_space.seed(5)
    seen, actions, reward, summary = episode(  # train at the first decision, then at random
        env, 11, lambda i: 1 if i["observation"].t_s == 60.0 else int(env.action_space.sample()))
    answers = iter(actions)
    again = episode(env, 11, lambda i: next(answers))
    assert again[1] == actions and again[2] == reward
    assert without_wall_times(again[3]) == without_wall_times(summary)
    assert env.replayed == sum(actions) >= 1  # the second episode replayed every job the first trained
    assert env.detections_replayed == again[3]["accuracy"]["frames"] > 0  # and every detected frame
    assert all(np.array_equal(a, b) for a, b in zip(again[0], seen, strict=True))
    replayed = fleetsim.run(scenario, seed=11, policies={"retraining": Replay(actions)})
    assert without_wall_times(summary) == without_wall_times(replayed.summary)
    assert reward == reward_of(replayed.summary, RewardWeights(cloud_per_usd=2.0))


def test_an_environment_needs_a_decision_it_knows_a_cluster_and_a_step_inside_the_run():
    with pytest.raises(PolicyError, match=r"unknown decision 'placement' \(allowed: 'retraining'\)"):
        FleetEnv(tiny_scenario(), decision="placement")
    with pytest.raises(PolicyError, match=r"cloud.retraining is 'never', which names no cluster"):
        FleetEnv(tiny_scenario(cloud__retraining={"kind": "never"}))
    with pytest.raises(PolicyError, match=r"step is 600.0 s \(allowed: more than 0 and less than "
                                          r"simulation.duration, 180.0 s\)"):
        FleetEnv(tiny_scenario(), step="10 min")
    with pytest.raises(PolicyError, match=r"detections is 'cached' \(allowed: 'real', 'recorded'\)"):
        FleetEnv(tiny_scenario(), detections="cached")
