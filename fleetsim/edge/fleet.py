"""The vehicles of a run: their group, accelerator cost, link and model version."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fleetsim.edge.faults import Outages
from fleetsim.hardware.inference import FrameLegs, InferenceCost
from fleetsim.scenario.models import VehicleGroup


class UploadBuffer:
    """Samples a vehicle kept, waiting for upload, in a store of bounded bytes.

    When a new sample does not fit, the eviction policy drops the oldest, the lowest-priority
    (of the stored and the incoming) or the incoming sample; every eviction is counted.
    Priority is the frame's detection uncertainty (the most informative samples first).
    """

    def __init__(self, capacity_bytes: float, sample_bytes: float, eviction: str):
        self.capacity = int(capacity_bytes // sample_bytes)
        self.eviction = eviction
        self.ready_s: list[float] = []
        self.sample_id: list[int] = []
        self.priority: list[float] = []
        self.evicted = 0

    def add(self, ready_s: np.ndarray, sample_id: np.ndarray, priority: np.ndarray) -> list[int]:
        """Keep the samples that fit; return the ids evicted (stored or incoming)."""
        evicted = []
        for r, i, p in zip(ready_s.tolist(), sample_id.tolist(), priority.tolist(), strict=True):
            if len(self.ready_s) >= self.capacity:
                self.evicted += 1
                if self.eviction == "newest" or self.capacity == 0:
                    evicted.append(i)
                    continue
                if self.eviction == "oldest":
                    drop = 0
                else:
                    drop = min(range(len(self.priority)), key=self.priority.__getitem__)
                    if self.priority[drop] >= p:
                        evicted.append(i)
                        continue  # the incoming sample is the least informative
                evicted.append(self.sample_id[drop])
                del self.ready_s[drop], self.sample_id[drop], self.priority[drop]
            self.ready_s.append(r)
            self.sample_id.append(i)
            self.priority.append(p)
        return evicted

    def take_ready(self, now: float, min_priority: float = -np.inf, limit: int | None = None) -> list[int]:
        """Remove and return ids of samples ready by ``now`` with at least ``min_priority``,
        highest priority first (ties: oldest first), at most ``limit``."""
        rows = [k for k, (r, p) in enumerate(zip(self.ready_s, self.priority, strict=True))
                if r <= now and p >= min_priority]
        rows.sort(key=lambda k: -self.priority[k])
        rows = rows[:limit]
        taken = [self.sample_id[k] for k in rows]
        for k in sorted(rows, reverse=True):
            del self.ready_s[k], self.sample_id[k], self.priority[k]
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
    samples: UploadBuffer  # kept samples waiting for upload
    throttled: InferenceCost | None = None  # cost once thermally throttled, if it throttles
    throttle_at_s: float = np.inf  # throttling onset, seconds into the run
    failure_key: np.uint64 | None = None  # counter-based up-time draws, if it fails
    outages: Outages = field(default_factory=Outages.none)
    model_version: int = 0
    variant: str = "int8"  # the detector variant it runs (its group's), each version's file of it
    samples_in_flight: int = 0
    selection: object | None = None  # a user's Python SelectionPolicy, in place of the group's kind
    legs: tuple[FrameLegs, ...] = ()  # per camera: the frame's legs (hardware models)
    throttled_legs: tuple[FrameLegs, ...] = ()  # the same once thermally throttled

    def path(self, camera: int, throttled: bool) -> FrameLegs:
        """The legs of a frame of ``camera``, at the throttled speed if ``throttled``."""
        return (self.throttled_legs if throttled and self.throttled_legs else self.legs)[camera]


@dataclass
class GroupMembers:
    """A vehicle group's spec and the global indices of its vehicles."""

    index: int
    spec: VehicleGroup
    vehicles: list[Vehicle]

    @property
    def indices(self) -> np.ndarray:
        return np.array([v.index for v in self.vehicles], dtype=np.int64)
