"""Perception: camera frames through each vehicle's accelerator queue.

Two interchangeable implementations feed the same ``FrameLedger`` and sample queues:

* ``VectorisedPerception`` computes frames with numpy, vehicles and frames at once,
  catching up to the simulation clock whenever a coarse event needs it
  (``advance_to``, called only by the fleet facade, ``edge.facade.Fleet``) — before an
  upload reads the sample queue, before a model swap.
* ``ReferencePerception`` simulates one SimPy event per frame. It is slow and exists
  to check the fast path: both give identical frames.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import simpy

from fleetsim.clock import Clock
from fleetsim.edge.cameras import CameraBank
from fleetsim.edge.detection import FleetDetection
from fleetsim.edge.faults import padded, up_time
from fleetsim.edge.fleet import GroupMembers, Vehicle
from fleetsim.edge.offload import Offloading
from fleetsim.edge.queueing import QueueState, serve
from fleetsim.hardware.inference import FRAME_LEGS
from fleetsim.metrics.ledger import FrameBatch, FrameLedger, FramePathIndex, PathLeg
from fleetsim.rng import component_key

WORKERS = 2
"""Threads computing onboard groups' frames (numpy releases the GIL on whole arrays)."""


class FramePaths:
    """Every vehicle's frame legs per camera (hardware models), normal and throttled, as tables.

    A frame's camera readout (the ``capture`` leg) is the camera's own stage: it runs in the
    camera and its link while the vehicle's frame path serves earlier frames, so a frame joins
    its vehicle's queue when its readout ends and then holds the frame path for its other legs
    in series (pre-processing, transfer, inference, post-processing, hand-off). Readout is a pure
    delay per camera (the sensor is not a queue: a camera's frames keep their order); cameras of
    different resolutions read out for different times, so a vehicle's frames may reach its
    queue in another order than they were captured in. The host's pre-processing of one frame
    does not overlap the accelerator's inference of another (``FrameLegs.server_s``, which
    prices published throughputs): only readout is pipelined. Latency is counted from the
    capture instant; ``queue`` is from the end of the readout to the start of the path. Both
    perception paths use this, so they stay identical.
    """

    def __init__(self, vehicles: list[Vehicle]):
        cameras = max(len(v.legs) for v in vehicles)
        self.vehicles, self.cameras = len(vehicles), cameras
        # every leg's time by path, path = (throttled x vehicles + vehicle) x cameras + camera
        paths = [v.path(min(c, len(v.legs) - 1), hot)
                 for hot in (False, True) for v in vehicles for c in range(cameras)]
        self.by_path = {name: np.array([getattr(p, f"{name}_s") for p in paths])
                        for name in (*FRAME_LEGS, "processing")}
        self.path_vehicle = np.tile(np.repeat(np.arange(len(vehicles)), cameras), 2)

    def path(self, vehicle, camera, throttled):
        """Index of each frame's path (vehicle, camera, throttled or not) in ``by_path``."""
        return (throttled * self.vehicles + vehicle) * self.cameras + camera

    def readout_s(self, vehicle, camera):
        """Camera readout of each frame, before it joins its vehicle's queue (never throttled)."""
        return self.by_path["capture"].take(self.path(vehicle, camera, False))

    def server_s(self, vehicle, camera, throttled):
        """Time each frame holds its vehicle's frame path: every leg but the readout."""
        return self.by_path["processing"].take(self.path(vehicle, camera, throttled))

    def complete(self, batch: FrameBatch, ready_s: np.ndarray | None = None,
                 path: np.ndarray | None = None) -> FrameBatch:
        """``batch`` with its latency by leg (queue: end of readout, ``ready_s``, to the start of its
        path; the hardware legs by path, which the ledger folds per path). ``ready_s`` and each
        frame's ``path`` are computed here unless given."""
        if ready_s is None:
            ready_s = batch.capture_s + self.readout_s(batch.vehicle, batch.camera)
        if path is None:
            path = self.path(batch.vehicle, batch.camera, batch.throttled)
        paths = FramePathIndex(path=path, vehicle=self.path_vehicle)
        legs = {"queue": np.where(batch.processed, batch.start_s - ready_s, np.nan),
                **{name: PathLeg(paths, self.by_path[name]) for name in FRAME_LEGS}}
        order = ("capture", "queue", *FRAME_LEGS[1:])
        return replace(batch, legs={k: legs[k] for k in order})


class _GroupFrames:
    """Camera banks, one per camera of the group's vehicle spec, service-time arrays, and the
    frames still in readout (captured, not yet at their vehicle's queue)."""

    def __init__(self, members: GroupMembers, seed: int):
        self.members = members
        spec = members.spec
        vehicles = members.vehicles
        n = len(vehicles)
        self.banks = [
            CameraBank(np.array([component_key(seed, "camera", spec.name, i, cam.name)
                                 for i in range(n)]), cam.fps, cam.arrivals)
            for cam in spec.cameras
        ]
        self.throttle_at_s = np.array([v.throttle_at_s for v in vehicles])
        self.outages = padded([v.outages for v in vehicles]) if spec.faults.failures else None
        empty = np.zeros((n, 0))
        self.in_readout = {"capture_s": empty, "counter": empty.astype(np.int64),
                           "camera": empty.astype(np.int64), "model_version": empty.astype(np.int64)}

    def reaching_queue(self, paths: FramePaths, take_until: float | None,
                       arrived_before: float) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The frames (V, N arrays, +inf / -1 padded) whose readout ends before ``arrived_before``,
        each row in the order they reach the queue, and those readout ends; the frames captured
        before ``take_until`` (None: none) join those in readout first, and the rest stay there.

        Frames that end their readout at the same instant keep their capture order (as the
        reference path's events do)."""
        frames = self.in_readout
        if take_until is not None:
            times, counters, camera = _merged([bank.take_until(take_until) for bank in self.banks])
            versions = np.array([v.model_version for v in self.members.vehicles])
            taken = {"capture_s": times, "counter": counters, "camera": camera,
                     "model_version": np.broadcast_to(versions[:, None], times.shape)}
            frames = {k: np.concatenate([frames[k], taken[k]], axis=1) for k in frames}
        arrival = frames["capture_s"] + paths.readout_s(self.members.indices[:, None],
                                                         np.maximum(frames["camera"], 0))
        # each row in the order frames reach the queue, as flat indices into the (V, W) arrays
        order = _row_starts(arrival) + np.argsort(arrival, axis=1, kind="stable")
        arrival = arrival.ravel().take(order)
        due = (arrival < arrived_before).sum(axis=1)  # a prefix of each row
        held = np.isfinite(arrival).sum(axis=1)
        n_due, n_stay = int(due.max(initial=0)), int((held - due).max(initial=0))
        stay = due[:, None] + np.arange(n_stay)
        staying = stay < held[:, None]
        stay = order.ravel().take(_row_starts(order) + np.minimum(stay, order.shape[1] - 1))
        self.in_readout = {k: np.where(staying, v.ravel().take(stay), _PAD[k]) for k, v in frames.items()}
        reaching = np.arange(n_due) < due[:, None]
        out = {k: np.where(reaching, v.ravel().take(order[:, :n_due]), _PAD[k]) for k, v in frames.items()}
        return out, np.where(reaching, arrival[:, :n_due], np.inf)


class VectorisedPerception:
    """Frames computed in numpy stretches between coarse events."""

    def __init__(self, groups: list[GroupMembers], ledger: FrameLedger, detection: FleetDetection, seed: int,
                 duration_s: float, offloading: Offloading | None = None):
        self.groups = [_GroupFrames(g, seed) for g in groups]
        self.paths = FramePaths([v for g in groups for v in g.vehicles])
        self.offloading = offloading
        self.detection = detection
        self.queues = [QueueState.empty(len(g.vehicles), g.spec.queue_capacity) for g in groups]
        self.vehicles = [v for g in groups for v in g.vehicles]
        self.ledger = ledger
        self.duration_s = duration_s
        self.time = 0.0
        self.recent: np.ndarray | None = None  # per group: latency sum, frames done, lost (if tracked)
        self._workers = ThreadPoolExecutor(WORKERS, thread_name_prefix="fleetsim-frames")

    def track_latency(self) -> None:
        """Keep each group's latency since the last ``recent_latency`` (for placement policies)."""
        self.group_of = np.zeros(len(self.vehicles), dtype=np.int64)
        for g, frames in enumerate(self.groups):
            self.group_of[frames.members.indices] = g
        self.recent = np.zeros((3, len(self.groups)))

    def recent_latency(self, group: int) -> tuple[float, int, int]:
        """Mean latency, frames processed and frames lost of ``group`` recorded since the last call."""
        if self.recent is None:
            return np.nan, 0, 0
        total, done, lost = self.recent[:, group].tolist()
        self.recent[:, group] = 0.0
        return (total / done if done else np.nan), int(done), int(lost)

    def advance_to(self, t: float) -> None:
        """Compute every frame whose camera readout ended before ``t`` (capped at the run's end);
        the others captured before ``t`` wait in readout. A frame goes where its group detects
        when its readout ends.

        Onboard groups are computed on worker threads (each touches only its own queues and
        cameras); frames are recorded and offloaded groups submitted here, in group order.
        """
        t = min(t, self.duration_s)
        if t <= self.time:
            return
        self._compute(t, t)
        self.time = t

    def finish(self) -> None:
        """Compute the frames up to the end of the run, and let the ones still in readout and
        the offloaded ones finish."""
        self.advance_to(self.duration_s)
        self._compute(None, np.inf)
        self._workers.shutdown()

    def _compute(self, t: float | None, arrived_before: float) -> None:
        """Frames captured before ``t`` (None: none more) whose readout ended before ``arrived_before``."""
        onboard = [self._workers.submit(self._onboard_frames, frames, queue, t, arrived_before)
                   if self._onboard(frames) else None
                   for frames, queue in zip(self.groups, self.queues, strict=True)]
        for frames, work in zip(self.groups, onboard, strict=True):
            batch = self._offloaded_frames(frames, t, arrived_before) if work is None else work.result()
            if batch is not None:
                self._record(batch)
        self._release_offloaded(np.inf if t is None else t)

    def _release_offloaded(self, t: float) -> None:
        if self.offloading is None:
            return
        for batch in self.offloading.release(t):
            found = self.detection.detected(batch.vehicle, batch.camera, batch.counter)
            batch.detected = batch.processed & found
            self._record(batch)

    def _onboard(self, frames: _GroupFrames) -> bool:
        return self.offloading is None or self.offloading.placement[frames.members.index] == "onboard"

    def _record(self, batch: FrameBatch) -> None:
        self.ledger.add(batch)
        self.detection.offer(batch)
        if self.recent is not None:
            g, n = self.group_of[batch.vehicle], len(self.groups)
            done = batch.processed
            latency = (batch.done_s - batch.capture_s)[done]
            self.recent[0] += np.bincount(g[done], weights=latency, minlength=n)
            self.recent[1] += np.bincount(g[done], minlength=n)
            self.recent[2] += np.bincount(g[~done], minlength=n)

    def _offloaded_frames(self, frames: _GroupFrames, t: float | None,
                          arrived_before: float) -> FrameBatch | None:
        """Send the group's frames captured before ``t`` (None: none more) whose readout ended
        before ``arrived_before`` to their remote servers."""
        members = frames.members
        f, ready = frames.reaching_queue(self.paths, t, arrived_before)
        if ready.shape[1] == 0:
            return None
        return self.offloading.submit(members, {
            "vehicle": np.broadcast_to(members.indices[:, None], ready.shape), **f, "ready_s": ready,
            "readout_s": self.paths.readout_s(members.indices[:, None], np.maximum(f["camera"], 0))})

    def _onboard_frames(self, frames: _GroupFrames, queue: QueueState, t: float | None,
                        arrived_before: float) -> FrameBatch | None:
        """The group's frames captured before ``t`` (None: none more) whose readout ended before
        ``arrived_before``, through its vehicles' accelerator queues."""
        members = frames.members
        f, arrival = frames.reaching_queue(self.paths, t, arrived_before)
        if arrival.shape[1] == 0:
            return None
        times, camera = f["capture_s"], np.maximum(f["camera"], 0)
        throttled = times >= frames.throttle_at_s[:, None]
        path = self.paths.path(members.indices[:, None], camera, throttled)
        served = serve(queue, arrival, self.paths.by_path["processing"].take(path), frames.outages)
        valid = np.flatnonzero(np.isfinite(times))  # the frames, row by row
        index = members.indices[valid // arrival.shape[1]]
        camera, counters = camera.ravel().take(valid), f["counter"].ravel().take(valid)
        processed = served.admitted.ravel().take(valid)
        return self.paths.complete(FrameBatch(
            vehicle=index,
            camera=camera,
            counter=counters,
            capture_s=times.ravel().take(valid),
            start_s=served.start.ravel().take(valid),
            done_s=served.departure.ravel().take(valid),
            processed=processed,
            failed=served.failed.ravel().take(valid),
            throttled=processed & throttled.ravel().take(valid),
            model_version=f["model_version"].ravel().take(valid),
            detected=processed & self.detection.detected(index, camera, counters),
        ), ready_s=arrival.ravel().take(valid), path=path.ravel().take(valid))


_PAD = {"capture_s": np.inf, "counter": -1, "camera": -1, "model_version": -1}
"""What pads the rows of a group's frames."""


def _row_starts(a: np.ndarray) -> np.ndarray:
    """(V, 1): the flat index of each row's first entry of ``a`` (V, W)."""
    return np.arange(a.shape[0])[:, None] * a.shape[1]


def _merged(taken: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each vehicle's frames of all its cameras in capture order: times, counters, camera index."""
    if len(taken) == 1:  # one camera: already in order
        times, counters = taken[0]
        return times, counters, np.zeros(times.shape, dtype=np.int64)
    times = np.concatenate([tm for tm, _ in taken], axis=1)
    counters = np.concatenate([k for _, k in taken], axis=1)
    camera = np.concatenate([np.full(tm.shape, c) for c, (tm, _) in enumerate(taken)], axis=1)
    order = _row_starts(times) + np.argsort(times, axis=1, kind="stable")
    return tuple(a.ravel().take(order) for a in (times, counters, camera))


class ReferencePerception:
    """One SimPy event per frame: each camera a process, each accelerator a Resource."""

    def __init__(self, clock: Clock, groups: list[GroupMembers], ledger: FrameLedger,
                 detection: FleetDetection, seed: int):
        self.env = env = clock.env
        vehicles = [v for g in groups for v in g.vehicles]
        self.detection = detection
        self.vehicles = vehicles
        self.ledger = ledger
        self.duration_s = clock.end_s
        self.rows: list[tuple] = []
        self.pending: list[simpy.Process] = []
        self.groups = [_GroupFrames(g, seed) for g in groups]
        self.paths = FramePaths(vehicles)
        self.accelerators = {v.index: simpy.Resource(env, capacity=1) for v in vehicles}
        self.in_system: dict[int, set[simpy.Process]] = {v.index: set() for v in vehicles}
        self.down: set[int] = set()
        for frames in self.groups:
            for c, bank in enumerate(frames.banks):
                for local in range(len(bank)):
                    env.process(self._camera(frames, c, local))
            failures = frames.members.spec.faults.failures
            if failures is not None:
                for vehicle in frames.members.vehicles:
                    env.process(self._failures(vehicle, failures))

    def advance_to(self, t: float) -> None:
        """Nothing to catch up: frames happen as events."""

    def _camera(self, frames: _GroupFrames, camera: int, local: int):
        bank = frames.banks[camera]
        k = 0
        while True:
            yield self.env.timeout(bank.gap(local, k))
            if self.env.now >= self.duration_s:
                return
            self.pending.append(self.env.process(self._frame(frames, camera, local, k)))
            k += 1

    def _failures(self, vehicle: Vehicle, failures):
        """Fail after each up-time, lose every frame in the system, come back after repair."""
        k = 0
        while True:
            yield self.env.timeout(up_time(vehicle.failure_key, failures, k))
            if self.env.now >= self.duration_s:
                return
            self.down.add(vehicle.index)
            for process in list(self.in_system[vehicle.index]):
                process.interrupt("accelerator failed")
            yield self.env.timeout(failures.repair)
            self.down.discard(vehicle.index)
            k += 1

    def _frame(self, frames: _GroupFrames, camera: int, local: int, k: int):
        """One frame from its capture: readout, then the vehicle's queue (unless down or full)."""
        vehicle = frames.members.vehicles[local]
        capture, version = self.env.now, vehicle.model_version
        readout = float(self.paths.readout_s(vehicle.index, camera))
        if readout:
            yield self.env.timeout(readout)
        accelerator = self.accelerators[vehicle.index]
        in_system = len(accelerator.users) + len(accelerator.queue)
        if vehicle.index in self.down or in_system > vehicle.spec.queue_capacity:
            self._unserved(vehicle, camera, k, capture, version, failed=vehicle.index in self.down)
            return
        self.in_system[vehicle.index].add(self.env.active_process)
        yield from self._serve(vehicle, camera, k, capture, version)

    def _unserved(self, vehicle: Vehicle, camera: int, k: int, capture: float, version: int,
                  failed: bool) -> None:
        self.rows.append((vehicle.index, camera, k, capture, np.nan, np.nan, False, failed, False,
                          version, False))

    def _serve(self, vehicle: Vehicle, camera: int, k: int, capture: float, version: int):
        try:
            with self.accelerators[vehicle.index].request() as request:
                yield request
                start = self.env.now
                yield self.env.timeout(float(self.paths.server_s(vehicle.index, camera,
                                                                  capture >= vehicle.throttle_at_s)))
                done = self.env.now
        except simpy.Interrupt:
            self._unserved(vehicle, camera, k, capture, version, failed=True)
            return
        finally:
            self.in_system[vehicle.index].discard(self.env.active_process)
        throttled = capture >= vehicle.throttle_at_s
        row = (vehicle.index, camera, k, capture, start, done, True, False, throttled, version)
        detected = bool(self.detection.detected(*(np.array([x]) for x in row[:3]))[0])
        self.rows.append((*row, detected))
        if detected:
            self.detection.offer(self.paths.complete(_batch([(*row, detected)])))

    def finish(self) -> None:
        """Let frames still queued at the end of the run complete, then record all frames."""
        self.env.run(simpy.AllOf(self.env, [p for p in self.pending if p.is_alive]))
        self.ledger.add(self.paths.complete(_batch(self.rows)))


_ROW_FIELDS = ("vehicle", "camera", "counter", "capture_s", "start_s", "done_s", "processed",
               "failed", "throttled", "model_version", "detected")


def _batch(rows: list[tuple]) -> FrameBatch:
    """A FrameBatch from reference-path row tuples (fields in ``_ROW_FIELDS`` order)."""
    columns = list(zip(*rows, strict=True)) if rows else [[]] * len(_ROW_FIELDS)
    arrays = {n: np.array(col) for n, col in zip(_ROW_FIELDS, columns, strict=True)}
    for name in ("vehicle", "camera", "counter", "model_version"):
        arrays[name] = arrays[name].astype(np.int64)
    for name in ("processed", "failed", "throttled", "detected"):
        arrays[name] = arrays[name].astype(bool)
    return FrameBatch(**arrays)
