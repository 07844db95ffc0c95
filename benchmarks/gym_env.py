"""Speed of the Gymnasium environment for learning loops, as ratios measured in one run.

For one scenario (default: ``scenarios/sweeps/quick_base.yaml`` for twenty minutes, retraining
every two minutes on five new samples) this times, in this process and on the same seed,
after one untimed warm-up run:

- a plain run (``fleetsim.run``) with the scenario's own trigger;
- an episode of ``FleetEnv`` with the built-in trigger as the agent (the same run, bit for
  bit), so its host time over the plain run's is the environment's overhead: stepping
  SimPy one event at a time (``Run.advance``), the observation vector, the agent's loop;
- the same episode again with ``fine_tunes="recorded"``: its second episode replays every
  fine-tune of the first (same inputs), so the ratio is what replay saves when episodes
  repeat;
- with ``--recorded-detections``, also an environment with ``fine_tunes="recorded"`` and
  ``detections="recorded"``: its second episode replays every fine-tune and every detection
  job of the first (no rendering, no ONNX Runtime; only the selected samples are rendered
  again), so the ratio is what replaying both saves when episodes repeat.

What is replayed: the fine-tunes (the int8 model, weights and validation scores of a job
whose inputs were trained before; torch training, export, quantisation and validation are
skipped) and, with ``detections="recorded"``, the detection jobs (each frame's ground truth
and decoded slots, for the same frames run through the same model bytes). Frames, queues,
network, uploads, labelling, the cluster and the rollout are simulated in every episode as
in a full run. Results with replay are identical to a full run (host wall times aside);
each replayed episode is checked against the plain run. See docs/gym.md, "What is replayed".

It prints decisions (steps) per second of host time and the ratios. Timings are only
comparable within one run on one idle machine.

    .venv/bin/python benchmarks/gym_env.py [--scenario PATH | --minutes 20] [--step SECONDS]
                                           [--recorded-detections]
"""

from __future__ import annotations

import argparse
import time

import fleetsim
from fleetsim.digests import without_wall_times
from fleetsim.gym import FleetEnv
from fleetsim.policies import Retraining


def small_town(minutes: float) -> fleetsim.Scenario:
    """The quick sweeps' town fleet for ``minutes``, a job possible every two minutes."""
    data = fleetsim.load_scenario(fleetsim.scenario_file("sweeps/quick_base")).model_dump(mode="json")
    data["simulation"]["duration"] = f"{minutes} min"
    data["cloud"]["clusters"][0]["startup"] = "30 s"
    data["cloud"]["retraining"] = {"kind": "periodic", "interval": "2 min", "cluster": "gpus",
                                   "min_samples": 5}
    data["cloud"]["fine_tune"]["validation_frames"] = 16
    return fleetsim.Scenario.model_validate(data)


def episode(env: FleetEnv, seed: int) -> tuple[int, float, dict]:
    """(steps, host seconds, summary) of one episode with the scenario's trigger as the agent."""
    trigger = env.builtin_policy()
    started = time.perf_counter()
    _, info = env.reset(seed=seed)
    steps, done = 0, False
    while not done:
        action = int(trigger.decide(info["observation"]) is Retraining.TRAIN)
        _, _, done, _, info = env.step(action)
        steps += 1
    return steps, time.perf_counter() - started, env.results.summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", help="scenario file (default: a small town cut)")
    parser.add_argument("--minutes", type=float, default=20.0, help="simulated minutes (default scenario)")
    parser.add_argument("--step", type=float, help="seconds between decisions (default: the trigger's)")
    parser.add_argument("--recorded-detections", action="store_true",
                        help="also time repeated episodes replaying detections as well as fine-tunes")
    args = parser.parse_args()
    scenario = fleetsim.load_scenario(args.scenario) if args.scenario else small_town(args.minutes)
    seed = scenario.simulation.seed
    fleetsim.run(scenario)  # warm-up, untimed: the process's first run loads the runtimes and models
    started = time.perf_counter()
    plain = fleetsim.run(scenario)
    plain_s = time.perf_counter() - started
    steps, env_s, summary = episode(FleetEnv(scenario, step=args.step), seed)
    same = without_wall_times(summary) == without_wall_times(plain.summary)
    recorded = FleetEnv(scenario, step=args.step, fine_tunes="recorded")
    _, first_s, _ = episode(recorded, seed)
    _, again_s, again = episode(recorded, seed)
    jobs = plain.summary["retraining"]["jobs_submitted"]
    print(f"scenario {scenario.name}: {scenario.simulation.duration:g} s simulated, {steps} decisions, "
          f"{jobs} jobs; env episode == plain run: {same}")
    print(f"plain run                      {plain_s:8.2f} s")
    print(f"env episode (real fine-tunes)  {env_s:8.2f} s  {steps / env_s:8.2f} steps/s  "
          f"overhead x{env_s / plain_s:.3f} of the plain run")
    print(f"recorded, first episode        {first_s:8.2f} s  x{first_s / plain_s:.3f}")
    print(f"recorded, repeated episode     {again_s:8.2f} s  {steps / again_s:8.2f} steps/s  "
          f"x{again_s / plain_s:.3f} of the plain run ({recorded.replayed} fine-tunes replayed; "
          f"same results: {without_wall_times(again) == without_wall_times(plain.summary)})")
    if args.recorded_detections:
        both = FleetEnv(scenario, step=args.step, fine_tunes="recorded", detections="recorded")
        _, first_s, _ = episode(both, seed)
        _, again_s, again = episode(both, seed)
        same = without_wall_times(again) == without_wall_times(plain.summary)
        print(f"+ detections, first episode    {first_s:8.2f} s  x{first_s / plain_s:.3f}")
        print(f"+ detections, repeated episode {again_s:8.2f} s  {steps / again_s:8.2f} steps/s  "
              f"x{again_s / plain_s:.3f} of the plain run ({both.replayed} fine-tunes and "
              f"{both.detections_replayed} detected frames replayed; same results: {same})")


if __name__ == "__main__":
    main()
