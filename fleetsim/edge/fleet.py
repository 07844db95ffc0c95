"""The vehicles of a run: their group, accelerator cost, link and model version."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from fleetsim.hardware.inference import InferenceCost
from fleetsim.scenario.models import VehicleGroup


@dataclass
class SampleQueue:
    """Samples a vehicle kept, waiting for upload, in order of readiness."""

    ready_s: deque = field(default_factory=deque)
    capture_s: deque = field(default_factory=deque)

    def add(self, ready_s: np.ndarray, capture_s: np.ndarray) -> None:
        self.ready_s.extend(ready_s.tolist())
        self.capture_s.extend(capture_s.tolist())

    def take_ready(self, now: float) -> list[float]:
        """Remove and return capture times of the samples ready by ``now``."""
        taken = []
        while self.ready_s and self.ready_s[0] <= now:
            self.ready_s.popleft()
            taken.append(self.capture_s.popleft())
        return taken

    def __len__(self) -> int:
        return len(self.ready_s)


@dataclass
class Vehicle:
    """One vehicle's mutable state during a run."""

    index: int
    name: str
    group_index: int
    spec: VehicleGroup
    inference: InferenceCost
    model_version: int = 0
    samples: SampleQueue = field(default_factory=SampleQueue)
    samples_in_flight: int = 0


@dataclass
class GroupMembers:
    """A vehicle group's spec and the global indices of its vehicles."""

    index: int
    spec: VehicleGroup
    vehicles: list[Vehicle]

    @property
    def indices(self) -> np.ndarray:
        return np.array([v.index for v in self.vehicles], dtype=np.int64)
