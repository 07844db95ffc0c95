"""The vehicles of a run: their group, accelerator cost, link and model version."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from fleetsim.edge.faults import Outages
from fleetsim.hardware.inference import InferenceCost
from fleetsim.scenario.models import VehicleGroup


@dataclass
class SampleQueue:
    """Samples a vehicle kept, waiting for upload, in order of readiness."""

    ready_s: deque = field(default_factory=deque)
    sample_id: deque = field(default_factory=deque)

    def add(self, ready_s: np.ndarray, sample_id: np.ndarray) -> None:
        self.ready_s.extend(ready_s.tolist())
        self.sample_id.extend(sample_id.tolist())

    def take_ready(self, now: float) -> list[int]:
        """Remove and return the ids of the samples ready by ``now``."""
        taken = []
        while self.ready_s and self.ready_s[0] <= now:
            self.ready_s.popleft()
            taken.append(self.sample_id.popleft())
        return taken

    def __len__(self) -> int:
        return len(self.ready_s)


@dataclass
class Vehicle:
    """One vehicle's mutable state during a run."""

    index: int
    name: str
    group_index: int
    local_index: int  # position within its group
    spec: VehicleGroup
    inference: InferenceCost
    selection_key: np.uint64  # counter-based draws of its sample selection
    throttled: InferenceCost | None = None  # cost once thermally throttled, if it throttles
    throttle_at_s: float = np.inf  # throttling onset, seconds into the run
    failure_key: np.uint64 | None = None  # counter-based up-time draws, if it fails
    outages: Outages = field(default_factory=Outages.none)
    model_version: int = 0
    samples: SampleQueue = field(default_factory=SampleQueue)
    samples_in_flight: int = 0

    def service_s(self, capture_s: float) -> float:
        """Accelerator time of a frame captured at ``capture_s``."""
        cost = self.throttled if capture_s >= self.throttle_at_s else self.inference
        return cost.latency_s


@dataclass
class GroupMembers:
    """A vehicle group's spec and the global indices of its vehicles."""

    index: int
    spec: VehicleGroup
    vehicles: list[Vehicle]

    @property
    def indices(self) -> np.ndarray:
        return np.array([v.index for v in self.vehicles], dtype=np.int64)
