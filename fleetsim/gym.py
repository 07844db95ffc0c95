"""A Gymnasium environment: an agent takes one of the run's decisions, step by step.

``FleetEnv(scenario, decision="retraining", step=...)`` runs the scenario with the agent in
the place of its retraining trigger: every ``step`` seconds of simulated time (default: the
trigger's own ``check_every``/``interval``) the simulation stops at the decision point, the
agent sees the observation and answers 0 (wait) or 1 (start a job, within the scenario's
cluster, epochs and daily budget). The run stops there by stepping SimPy one event at a
time until the trigger asks (``Run.advance``); the trigger's process waits on an event the
environment answers, and resumes before anything else happens at that instant, so an agent
that answers as a built-in trigger would gives that trigger's run, bit for bit.

Observation: ``FEATURES``, float32, in that order (counts as counts; times as fractions of
the horizon; NaN accuracy signals as -1). Action: ``Discrete(2)``. Reward: 0 until the
last step, then the run's summary ``accuracy.map50_mean`` minus the ``RewardWeights`` times
the cloud's training cost, the labelling cost and the fleet's radio energy. ``info`` holds
the typed ``RetrainingObservation`` (``"observation"``) at every step but the last; after
the last, ``FleetEnv.results`` holds the episode's ``Results``.

>>> env = FleetEnv(fleetsim.scenario_file("quickstart"), step=600.0)   # doctest: +SKIP
>>> obs, info = env.reset(seed=1)                                       # doctest: +SKIP
>>> obs, reward, terminated, truncated, info = env.step(1)              # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

import gymnasium
import numpy as np
import simpy
from gymnasium import spaces
from simpy.events import URGENT

from fleetsim.cloud.finetune import FineTuner
from fleetsim.cloud.policy import TRIGGERS
from fleetsim.cloud.recorded import RecordedFineTuner, Recording
from fleetsim.edge.recorded import RecordedDetections
from fleetsim.engine import Run, prepared
from fleetsim.hardware.catalog import Catalog, load_catalog
from fleetsim.policies import PolicyError, Retraining, RetrainingObservation
from fleetsim.results import Results, build_results
from fleetsim.scenario.cloud import JobPolicy
from fleetsim.scenario.models import Scenario
from fleetsim.scenario.units import parse_quantity

GYM_DECISIONS = ("retraining",)
"""The decisions an agent can take through ``FleetEnv``."""

FEATURES = ("time_fraction", "new_samples", "retained_samples", "labels_pending", "samples_on_vehicles",
            "samples_in_flight", "connected_fraction", "metered_fraction", "jobs_pending", "models_released",
            "since_release_fraction", "confidence", "map50", "training_usd", "labelling_usd")
"""The observation vector's entries (see ``RetrainingObservation``)."""


@dataclass(frozen=True)
class RewardWeights:
    """What the last step's reward subtracts from the mean mAP@0.5, per unit of each cost."""

    cloud_per_usd: float = 1.0  # retraining.cloud_cost_usd
    labelling_per_usd: float = 0.01  # labeling.cost_usd
    radio_per_kj: float = 0.01  # energy.radio_j / 1000


def reward_of(summary: dict, weights: RewardWeights) -> float:
    """The episode's reward from a run's summary (a run without detected frames scores mAP 0)."""
    accuracy = summary["accuracy"]["map50_mean"]
    accuracy = 0.0 if accuracy is None or math.isnan(accuracy) else accuracy
    return float(accuracy - weights.cloud_per_usd * summary["retraining"]["cloud_cost_usd"]
                 - weights.labelling_per_usd * summary["labeling"]["cost_usd"]
                 - weights.radio_per_kj * summary["energy"]["radio_j"] / 1000.0)


def features(obs: RetrainingObservation) -> np.ndarray:
    """The observation vector of ``obs`` (``FEATURES``)."""
    horizon, vehicles = obs.horizon_s, max(obs.vehicles, 1)
    signal = [-1.0 if math.isnan(v) else v for v in (obs.confidence, obs.map50)]
    return np.array([
        obs.t_s / horizon, obs.new_samples, obs.retained_samples, obs.labels_pending, obs.samples_on_vehicles,
        obs.samples_in_flight, obs.vehicles_connected / vehicles, obs.vehicles_metered / vehicles,
        obs.jobs_pending, obs.models_released, (obs.t_s - obs.last_release_s) / horizon, *signal,
        obs.training_usd, obs.labelling_usd], dtype=np.float32)


class _Agent:
    """The retraining policy the environment puts in the run: each decision is an event it answers."""

    def __init__(self, check_every_s: float):
        self.env: simpy.Environment | None = None  # the run's, once it is built
        self.check_every_s = check_every_s
        self.asked: RetrainingObservation | None = None
        self.answer: simpy.Event | None = None

    def decide(self, obs: RetrainingObservation) -> simpy.Event:
        self.asked, self.answer = obs, self.env.event()
        return self.answer

    def reply(self, action: Retraining) -> None:
        """Answer the pending decision so that the trigger resumes next, before anything else now."""
        answer, self.asked, self.answer = self.answer, None, None
        answer._ok, answer._value = True, action  # Event.succeed, at URGENT rather than NORMAL priority
        self.env.schedule(answer, URGENT)


class FleetEnv(gymnasium.Env):
    """``scenario`` (a Scenario or a YAML path) as a Gymnasium environment for one ``decision``.

    ``step``: seconds (or a duration such as ``"5 min"``) between decisions; ``weights``: the
    reward's costs; ``catalog``: hardware models (default: the shipped ones); ``fine_tunes``:
    ``"real"`` trains every job, ``"recorded"`` replays a job whose exact inputs an earlier
    episode of this environment trained (``fleetsim.cloud.recorded``: same results, less host
    time when episodes repeat); ``detections``: ``"real"`` renders and detects every detected
    frame, ``"recorded"`` replays a detection job an earlier episode ran on the same frames with
    the same model (``fleetsim.edge.recorded``: same results). ``reset(seed=)``
    runs the scenario with that ``simulation.seed`` (None: the scenario's own seed first, then
    seeds drawn from the environment's generator), so the same seed gives the same episode.
    """

    metadata = {"render_modes": []}

    def __init__(self, scenario: Scenario | str | Path, decision: str = "retraining",
                 step: float | str | None = None, *, weights: RewardWeights | None = None,
                 catalog: Catalog | None = None, fine_tunes: Literal["real", "recorded"] = "real",
                 detections: Literal["real", "recorded"] = "real"):
        if decision not in GYM_DECISIONS:
            raise PolicyError(f"FleetEnv: unknown decision {decision!r} "
                              f"(allowed: {', '.join(repr(d) for d in GYM_DECISIONS)})")
        self.catalog = catalog if catalog is not None else load_catalog()
        self.scenario, self.base_dir = prepared(scenario, None, self.catalog)
        retraining = self.scenario.cloud.retraining
        if not isinstance(retraining, JobPolicy):
            raise PolicyError(f"FleetEnv: cloud.retraining is {retraining.kind!r}, which names no cluster "
                              f"(allowed: a kind that starts jobs, e.g. 'periodic')")
        if step is None:
            step = getattr(retraining, "check_every", getattr(retraining, "interval", None))
        if step is None:
            raise PolicyError(f"FleetEnv: cloud.retraining kind {retraining.kind!r} has no check interval "
                              f"(allowed: give step)")
        self.step_s = parse_quantity(step, "time") if isinstance(step, str) else float(step)
        duration = self.scenario.simulation.duration
        if not 0 < self.step_s < duration:
            raise PolicyError(f"FleetEnv: step is {self.step_s!r} s (allowed: more than 0 and less than "
                              f"simulation.duration, {duration} s)")
        if fine_tunes not in ("real", "recorded"):
            raise PolicyError(f"FleetEnv: fine_tunes is {fine_tunes!r} (allowed: 'real', 'recorded')")
        if detections not in ("real", "recorded"):
            raise PolicyError(f"FleetEnv: detections is {detections!r} (allowed: 'real', 'recorded')")
        self.detections = RecordedDetections() if detections == "recorded" else None
        self.records: dict[str, Recording] = {}  # the recorded fine-tunes, by the SHA-256 of their inputs
        self.fine_tuner = (partial(RecordedFineTuner, records=self.records) if fine_tunes == "recorded"
                           else FineTuner)
        self.weights = weights if weights is not None else RewardWeights()
        self.decision = decision
        self.observation_space = spaces.Box(-1.0, np.inf, shape=(len(FEATURES),), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self._run: Run | None = None
        self._agent: _Agent | None = None
        self._episodes = 0
        self._last = np.zeros(len(FEATURES), dtype=np.float32)
        self.results: Results | None = None  # of the last episode that ended
        self.replayed = 0  # fine-tunes the last episode replayed (fine_tunes="recorded")
        self.detections_replayed = 0  # detected frames the last episode replayed (detections="recorded")
        self.sim_wall_s = 0.0  # host seconds inside SimPy and the results, over every episode
        self._episode_s = 0.0  # of them, this episode's steps so far (its results' run.wall_s)

    def builtin_policy(self):
        """A fresh copy of the scenario's own trigger (a built-in kind) as a ``RetrainingPolicy``: an
        agent that answers ``int(policy.decide(info["observation"]) is Retraining.TRAIN)`` at
        this environment's ``step`` (the trigger's own by default) gives the scenario's run."""
        spec = self.scenario.cloud.retraining
        return TRIGGERS[spec.kind](spec, None)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is None:
            seed = (self.scenario.simulation.seed if self._episodes == 0
                    else int(self.np_random.integers(2**31)))
        self._episodes += 1
        simulation = self.scenario.simulation.model_copy(update={"seed": int(seed)})
        scenario = self.scenario.model_copy(update={"simulation": simulation})
        wall = time.perf_counter()
        self._agent = _Agent(self.step_s)
        self._run = Run(scenario, self.catalog, self.base_dir, {"retraining": self._agent}, self.fine_tuner,
                        self.detections)
        self._agent.env = self._run.env
        asked = self._run.advance(lambda: self._agent.asked is not None)
        self._episode_s = time.perf_counter() - wall
        self.sim_wall_s += self._episode_s
        if not asked:
            raise PolicyError("FleetEnv: the run ended before its first decision (allowed: a step shorter "
                              "than the run)")
        return self._observe(), {"observation": self._agent.asked}

    def step(self, action):
        if self._agent is None or self._agent.asked is None:
            raise PolicyError("FleetEnv: step before reset or after the episode ended (allowed: reset first)")
        if not self.action_space.contains(action):
            raise PolicyError(f"FleetEnv: action {action!r} (allowed: 0 wait, 1 train)")
        wall = time.perf_counter()
        self._agent.reply(Retraining.TRAIN if int(action) == 1 else Retraining.WAIT)
        if self._run.advance(lambda: self._agent.asked is not None):
            self._episode_s += time.perf_counter() - wall
            self.sim_wall_s += time.perf_counter() - wall
            return self._observe(), 0.0, False, False, {"observation": self._agent.asked}
        self.results = self._finish(self._episode_s + time.perf_counter() - wall)
        self.sim_wall_s += time.perf_counter() - wall
        return self._last, reward_of(self.results.summary, self.weights), True, False, {}

    def _finish(self, wall_s: float) -> Results:
        """Run the episode to its horizon; its Results (``wall_s``: host seconds inside SimPy so far)."""
        run, self._agent.asked = self._run, None
        finishing = time.perf_counter()
        collectors = run.execute(None)
        self.replayed = getattr(run.retraining.tuner, "replayed", 0)
        self.detections_replayed = run.detection.replayed
        self._last = features(run.retraining.observer.observe())
        return build_results(run.scenario, collectors, wall_s=wall_s + time.perf_counter() - finishing)

    def _observe(self) -> np.ndarray:
        self._last = features(self._agent.asked)
        return self._last
