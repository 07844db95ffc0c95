"""The fleet facade: the one door into the vehicles for the cloud and the run.

Through it the cloud swaps a vehicle's model version, reads the fleet's accuracy or
confidence signal, and receives uploaded samples (uploads deliver each ``Upload`` to an
``Inbox``, a protocol the cloud's sample store implements). Every operation first brings
the fleet up to the clock itself (``_bring_up_to_now``, the one place that calls
``advance_to``): frames read out before now are computed (those still in their camera's
readout wait for it) and, before a read or a sample is taken, detected and their samples
selected. Nobody else catches the fleet up, so no
caller can forget to.

>>> fleet.swap(3, version=2)             # doctest: +SKIP
>>> fleet.signal("map50", 0.0, 900.0)    # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from fleetsim.clock import Clock
from fleetsim.edge.detection import FleetDetection
from fleetsim.edge.fleet import Vehicle
from fleetsim.world import AnnotatedFrames

Signal = Literal["map50", "confidence"]
SIGNALS = {"map50": FleetDetection.map50_of, "confidence": FleetDetection.mean_confidence}
"""The fleet's accuracy signals by name (cloud.rollout.canary_signal, the drift trigger's confidence)."""


@dataclass(frozen=True)
class Member:
    """What others may know of a vehicle: its position in the fleet, name, group, precision and the
    detector variant it runs."""

    index: int
    name: str
    group: str
    precision: str
    variant: str


@dataclass(frozen=True)
class Upload:
    """Samples that finished uploading from one vehicle: ids, ground truth with pixels, arrival time."""

    vehicle: str
    group: str
    sample_ids: list[int]
    truth: AnnotatedFrames
    t_s: float


class Inbox(Protocol):
    """Where uploads are delivered (the cloud's sample store)."""

    def receive(self, upload: Upload) -> None: ...


class Perception(Protocol):
    """The per-frame path (vectorised or one event per frame)."""

    def advance_to(self, t: float) -> None: ...

    def finish(self) -> None: ...


class Fleet:
    """The vehicles of a run, their frames and detections, behind a few operations at the clock."""

    def __init__(self, clock: Clock, vehicles: list[Vehicle], perception: Perception,
                 detection: FleetDetection):
        self.clock = clock
        self.env = clock.env
        self.vehicles = vehicles  # edge-internal; the cloud uses ``members``
        self.perception = perception
        self.detection = detection
        self.members = [Member(v.index, v.name, v.spec.name, v.spec.precision, v.variant) for v in vehicles]

    def __len__(self) -> int:
        return len(self.vehicles)

    def model_version(self, vehicle: int) -> int:
        """The model version ``vehicle`` (its index) runs now."""
        return self.vehicles[vehicle].model_version

    def swap(self, vehicle: int, version: int) -> int:
        """Switch ``vehicle`` to ``version`` now (frames captured before ran the old one); return the old."""
        self._bring_up_to_now(detect=False)
        target = self.vehicles[vehicle]
        previous, target.model_version = target.model_version, version
        return previous

    def signal(self, kind: Signal, t0: float, t1: float, vehicles: np.ndarray | None = None,
               version: int | None = None) -> float:
        """mAP@0.5 against ground truth, or mean detection confidence, of the frames captured in
        [t0, t1) and detected by now, optionally only ``vehicles``' and those ``version`` ran (NaN
        if none)."""
        self._bring_up_to_now()
        return SIGNALS[kind](self.detection, t0, t1, vehicles, version)

    def signal_so_far(self, kind: Signal, t0: float, t1: float) -> float:
        """``signal`` of the frames detected by the fleet's last update (brings nothing up to now)."""
        return SIGNALS[kind](self.detection, t0, t1, None, None)

    def take_samples(self, vehicle: Vehicle, min_priority: float = -math.inf,
                     limit: int | None = None) -> list[int]:
        """Ids of ``vehicle``'s kept samples ready now (see ``UploadBuffer.take_ready``)."""
        self._bring_up_to_now()
        return vehicle.samples.take_ready(self.env.now, min_priority, limit)

    def upload_queues(self) -> tuple[int, int]:
        """Samples kept on the vehicles waiting for upload, and samples uploading, as of the fleet's
        last update (reading them brings nothing up to now)."""
        return sum(len(v.samples) for v in self.vehicles), sum(v.samples_in_flight for v in self.vehicles)

    def upload(self, vehicle: Vehicle, sample_ids: list[int]) -> Upload:
        """``sample_ids`` of ``vehicle`` as they arrive in the cloud now (their pixels leave the fleet)."""
        truth = self.detection.archive.take(np.asarray(sample_ids))
        return Upload(vehicle.name, vehicle.spec.name, list(sample_ids), truth, self.env.now)

    def bring_frames_up_to_now(self) -> None:
        """Compute every frame read out before now (none detected), e.g. before a placement moves."""
        self._bring_up_to_now(detect=False)

    def keep_pace(self, step_s: float):
        """SimPy process: keep the frames within ``step_s`` of the clock (bounds memory)."""
        end_s = self.clock.end_s
        while self.env.now < end_s:
            yield self.env.timeout(min(step_s, end_s - self.env.now))
            self._bring_up_to_now(detect=False)

    def finish(self) -> None:
        """Compute and detect the frames still pending at the end of the run."""
        self.perception.finish()
        self.detection.finish()

    def _bring_up_to_now(self, detect: bool = True) -> None:
        """Compute every frame read out before now; with ``detect``, detect them and select samples.

        A swap needs only the first: frames captured before it keep the old model.
        """
        now = self.env.now
        self.perception.advance_to(now)
        if detect:
            self.detection.flush(now)
