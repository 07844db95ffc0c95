"""What a run will cost before it starts: frames, events, peak memory and host time.

A deliberately simple model, read off the scenario alone:

- frames = sum over groups of vehicles x (sum of camera rates) x duration;
- detections = frames / detector.detect_every (an upper bound: dropped frames are not detected);
- events = frames + detections (each frame passes the ledger once, each detection ONNX Runtime);
- windows = vehicles x ceil(duration / outputs.window) ledger cells (and as many table rows);
- peak memory = a fixed floor (Python, NumPy, ONNX Runtime) + torch if the run trains (a
  retraining policy other than ``never``) + bytes per vehicle + bytes per ledger cell + bytes
  per detection + bytes per frame kept by ``outputs.frame_table`` + a fine-tune's working set if
  any job is expected;
- training jobs = whole ``interval``s of a periodic policy in the run (whole 6 h spans
  for the sample-count and drift policies, which start jobs when the data says);
- host time = a start-up (and another if the run trains: torch's import, the shipped models'
  held-out scores) + seconds per frame + seconds per simulated second + seconds per detection
  + seconds per training job.

The memory constants are upper bounds read off runs of the shipped scenarios and of
``benchmarks/fleet_day.py``'s fleets on a 2-core machine; the host-time terms are fitted on the
same runs, idle (``python -m benchmarks.estimate_fit --fit``; the README's Reliability section
says how close the estimate came). They are meant for orders of magnitude, to refuse runs that
cannot fit, not to predict to the second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from fleetsim.errors import FleetsimError

FLOOR_BYTES = 500e6  # the small cuts that do not train peaked at 275-318 MiB
TORCH_BYTES = 350e6  # a run that retrains loads torch: those cuts peaked at 529-734 MiB
BYTES_PER_VEHICLE = 60e3  # fleet_day's 10,000 vehicles peaked about 600 MiB above the small cuts
BYTES_PER_WINDOW = 150.0  # ledger arrays (10 x 8 bytes) and the vehicle_windows table row
BYTES_PER_DETECTION = 400.0
BYTES_PER_FRAME_ROW = 250.0  # FrameBatch arrays kept, then the frames table
TRAINING_BYTES = 500e6  # a real fine-tune's working set (its activations, the model, its samples), once
START_S = 2.0  # the imports and the run's set-up
TRAINER_START_S = 1.9  # a run that trains: torch's import and the shipped models' scores
S_PER_FRAME = 2.0e-7
S_PER_SIM_S = 0.0  # events that follow the clock, not the frames (fitted at 0 in session 14, 9.6e-5 in 13)
S_PER_DETECTION = 6.2e-4  # rendering and ONNX Runtime, on workers beside the simulation
S_PER_TRAINING_JOB = 2.0  # what a fine-tune adds: most of it overlaps the simulation
HOST_TERMS = ("START_S", "TRAINER_START_S", "S_PER_FRAME", "S_PER_SIM_S", "S_PER_DETECTION",
              "S_PER_TRAINING_JOB")
"""The host-time terms, each multiplying its figure of ``Estimate.host_features`` (in this order)."""
JOB_EVERY_S = 6 * 3600.0
"""Assumed spacing of jobs of the sample-count and drift policies (they start when the data says)."""
LONG_RUN_S = 60.0
"""Runs estimated above this show the estimate beside the progress bar."""


@dataclass(frozen=True)
class Estimate:
    """Estimated size and cost of one run."""

    frames: float
    detections: float
    events: float
    windows: float
    trains: bool  # a retraining policy other than never: the run loads torch
    training_jobs: float
    duration_s: float
    peak_bytes: float

    @property
    def host_features(self) -> tuple[float, ...]:
        """What each of ``HOST_TERMS`` multiplies in the host time."""
        return (1.0, float(self.trains), self.frames, self.duration_s, self.detections, self.training_jobs)

    @property
    def wall_s(self) -> float:
        """The estimated host time in seconds."""
        return sum(globals()[term] * x for term, x in zip(HOST_TERMS, self.host_features, strict=True))

    def line(self) -> str:
        """One line for the terminal."""
        return (f"estimate: {_count(self.frames)} frames, {_count(self.detections)} detections, "
                f"{_count(self.events)} events, peak memory ~{_bytes(self.peak_bytes)}, "
                f"host time {self.wall_text()}")

    def wall_text(self) -> str:
        """The estimated host time, e.g. ``~1.25 min``."""
        return f"~{_duration(self.wall_s)}"


def _count(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f}"


def _bytes(n: float) -> str:
    for unit, size in (("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n / 2**10:.3g} KiB"


def _duration(s: float) -> str:
    for unit, size in (("years", 3.156e7), ("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if s >= size:
            return f"{s / size:.3g} {unit}"
    return f"{s:.0f} s"


def estimate(scenario) -> Estimate:
    """The cost of running ``scenario`` (see the module docstring for the model)."""
    duration = scenario.simulation.duration
    vehicles = sum(g.count for g in scenario.fleet.groups)
    frames = sum(g.count * sum(c.fps for c in g.cameras) for g in scenario.fleet.groups) * duration
    detections = frames / scenario.detector.detect_every
    windows = vehicles * math.ceil(duration / scenario.outputs.window)
    policy = scenario.cloud.retraining
    jobs = 0.0 if policy.kind == "never" else float(
        math.floor(duration / (policy.interval if policy.kind == "periodic" else JOB_EVERY_S)))
    trains = policy.kind != "never"
    peak = (FLOOR_BYTES + TORCH_BYTES * trains + BYTES_PER_VEHICLE * vehicles + BYTES_PER_WINDOW * windows
            + BYTES_PER_DETECTION * detections + (BYTES_PER_FRAME_ROW * frames if scenario.outputs.frame_table
                                                  else 0.0) + (TRAINING_BYTES if jobs else 0.0))
    return Estimate(frames=frames, detections=detections, events=frames + detections, windows=windows,
                    trains=trains, training_jobs=jobs, duration_s=duration, peak_bytes=peak)


def available_bytes(meminfo: Path = Path("/proc/meminfo")) -> float | None:
    """MemAvailable of this machine (None where /proc/meminfo does not say)."""
    try:
        for line in meminfo.read_text(encoding="utf-8").splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class TooLargeError(FleetsimError):
    """A run whose estimated peak memory exceeds what this machine has available."""


def guard(scenario, found: Estimate, force: bool = False, available: float | None = None) -> None:
    """Raise TooLargeError if ``found`` would not fit in available memory (unless ``force``)."""
    available = available if available is not None else available_bytes()
    if force or available is None or found.peak_bytes <= available:
        return
    knobs = ["fleet.groups[].count", "fleet.groups[].cameras[].fps", "simulation.duration"]
    if scenario.outputs.frame_table:
        knobs.insert(0, "outputs.frame_table: false")
    knobs += ["outputs.window (longer)", "detector.detect_every (larger)"]
    raise TooLargeError(f"{scenario.name}: refused: {found.line()}, but only {_bytes(available)} is "
                        "available; "
                        f"turn down {', '.join(knobs)}, or pass --force to run anyway")
