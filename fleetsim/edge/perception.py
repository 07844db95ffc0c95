"""Perception: camera frames through each vehicle's accelerator queue.

Two interchangeable implementations feed the same ``FrameLedger`` and sample queues:

* ``VectorisedPerception`` computes frames with numpy, vehicles and frames at once,
  catching up to the simulation clock whenever a coarse event needs it
  (``advance_to``) — before an upload reads the sample queue, before a model swap.
* ``ReferencePerception`` simulates one SimPy event per frame. It is slow and exists
  to check the fast path: both give identical frames.
"""

from __future__ import annotations

import numpy as np
import simpy

from fleetsim.edge.cameras import CameraBank
from fleetsim.edge.detection import FleetDetection
from fleetsim.edge.fleet import GroupMembers, Vehicle
from fleetsim.edge.queueing import QueueState, serve
from fleetsim.metrics.ledger import FrameBatch, FrameLedger
from fleetsim.rng import component_key


class _GroupFrames:
    """Camera banks, one per camera of the group's vehicle spec."""

    def __init__(self, members: GroupMembers, seed: int):
        self.members = members
        spec = members.spec
        n = len(members.vehicles)
        self.banks = [
            CameraBank(np.array([component_key(seed, "camera", spec.name, i, cam.name)
                                 for i in range(n)]), cam.fps, cam.arrivals)
            for cam in spec.cameras
        ]


class VectorisedPerception:
    """Frames computed in numpy stretches between coarse events."""

    def __init__(self, groups: list[GroupMembers], vehicles: list[Vehicle], ledger: FrameLedger,
                 detection: FleetDetection, seed: int, duration_s: float):
        self.groups = [_GroupFrames(g, seed) for g in groups]
        self.detection = detection
        self.queues = [QueueState.empty(len(g.vehicles), g.spec.queue_capacity) for g in groups]
        self.vehicles = vehicles
        self.ledger = ledger
        self.duration_s = duration_s
        self.time = 0.0

    def advance_to(self, t: float) -> None:
        """Compute every frame captured before ``t`` (capped at the run's end)."""
        t = min(t, self.duration_s)
        if t <= self.time:
            return
        for frames, queue in zip(self.groups, self.queues, strict=True):
            self._advance_group(frames, queue, t)
        self.time = t

    def finish(self) -> None:
        """Compute the frames up to the end of the run."""
        self.advance_to(self.duration_s)

    def _advance_group(self, frames: _GroupFrames, queue: QueueState, t: float) -> None:
        members = frames.members
        n = len(members.vehicles)
        taken = [bank.take_until(t) for bank in frames.banks]
        times = np.concatenate([tm for tm, _ in taken], axis=1)
        counters = np.concatenate([k for _, k in taken], axis=1)
        camera = np.concatenate(
            [np.full(tm.shape, c) for c, (tm, _) in enumerate(taken)], axis=1
        )
        if times.shape[1] == 0:
            return
        order = np.argsort(times, axis=1, kind="stable")
        times = np.take_along_axis(times, order, axis=1)
        counters = np.take_along_axis(counters, order, axis=1)
        camera = np.take_along_axis(camera, order, axis=1)
        service = np.array([v.inference.latency_s for v in members.vehicles])
        served = serve(queue, times, np.broadcast_to(service[:, None], times.shape))
        valid = np.isfinite(times)
        local = np.broadcast_to(np.arange(n)[:, None], times.shape)[valid]
        index = members.indices[local]
        processed = served.admitted[valid]
        batch = FrameBatch(
            vehicle=index,
            camera=camera[valid],
            counter=counters[valid],
            capture_s=times[valid],
            start_s=served.start[valid],
            done_s=served.departure[valid],
            processed=processed,
            model_version=np.array([v.model_version for v in members.vehicles])[local],
            detected=processed & self.detection.detected(index, camera[valid], counters[valid]),
        )
        self.ledger.add(batch)
        self.detection.offer(batch)


class ReferencePerception:
    """One SimPy event per frame: each camera a process, each accelerator a Resource."""

    def __init__(self, env: simpy.Environment, groups: list[GroupMembers], vehicles: list[Vehicle],
                 ledger: FrameLedger, detection: FleetDetection, seed: int, duration_s: float):
        self.env = env
        self.detection = detection
        self.vehicles = vehicles
        self.ledger = ledger
        self.duration_s = duration_s
        self.rows: list[tuple] = []
        self.pending: list[simpy.Process] = []
        self.groups = [_GroupFrames(g, seed) for g in groups]
        self.accelerators = {v.index: simpy.Resource(env, capacity=1) for v in vehicles}
        for frames in self.groups:
            for c, bank in enumerate(frames.banks):
                for local in range(len(bank)):
                    env.process(self._camera(frames, c, local))

    def advance_to(self, t: float) -> None:
        """Nothing to catch up: frames happen as events."""

    def _camera(self, frames: _GroupFrames, camera: int, local: int):
        bank = frames.banks[camera]
        k = 0
        while True:
            yield self.env.timeout(bank.gap(local, k))
            if self.env.now >= self.duration_s:
                return
            self._arrive(frames, camera, local, k)
            k += 1

    def _arrive(self, frames: _GroupFrames, camera: int, local: int, k: int) -> None:
        vehicle = frames.members.vehicles[local]
        accelerator = self.accelerators[vehicle.index]
        in_system = len(accelerator.users) + len(accelerator.queue)
        if in_system > vehicle.spec.queue_capacity:
            self.rows.append((vehicle.index, camera, k, self.env.now, np.nan, np.nan, False,
                              vehicle.model_version, False))
            return
        self.pending.append(self.env.process(self._serve(frames, camera, local, k)))

    def _serve(self, frames: _GroupFrames, camera: int, local: int, k: int):
        vehicle = frames.members.vehicles[local]
        capture, version = self.env.now, vehicle.model_version
        with self.accelerators[vehicle.index].request() as request:
            yield request
            start = self.env.now
            yield self.env.timeout(vehicle.inference.latency_s)
            done = self.env.now
        row = (vehicle.index, camera, k, capture, start, done, True, version)
        detected = bool(self.detection.detected(*(np.array([x]) for x in row[:3]))[0])
        self.rows.append((*row, detected))
        if detected:
            self.detection.offer(_batch([(*row, detected)]))

    def finish(self) -> None:
        """Let frames still queued at the end of the run complete, then record all frames."""
        self.env.run(simpy.AllOf(self.env, [p for p in self.pending if p.is_alive]))
        self.ledger.add(_batch(self.rows))


_ROW_FIELDS = ("vehicle", "camera", "counter", "capture_s", "start_s", "done_s", "processed",
               "model_version", "detected")


def _batch(rows: list[tuple]) -> FrameBatch:
    """A FrameBatch from reference-path row tuples (fields in ``_ROW_FIELDS`` order)."""
    columns = list(zip(*rows, strict=True)) if rows else [[]] * len(_ROW_FIELDS)
    arrays = {n: np.array(col) for n, col in zip(_ROW_FIELDS, columns, strict=True)}
    for name in ("vehicle", "camera", "counter", "model_version"):
        arrays[name] = arrays[name].astype(np.int64)
    for name in ("processed", "detected"):
        arrays[name] = arrays[name].astype(bool)
    return FrameBatch(**arrays)
