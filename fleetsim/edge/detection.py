"""Real detection of a share of the fleet's frames, and sample selection from its results.

Every camera's frames numbered ``phase + k * detect_every`` (phase drawn per camera)
are rendered under the world's conditions at their capture time and run through the
vehicle's current model version, in its group's variant's file, with ONNX Runtime (decoding
included), batched across the whole fleet.
Rendering and inference start on worker threads as soon as frames are offered (a frame's
pixels and decoded slots depend on the frame alone, never on its batch), while the simulation goes on;
results are taken at a flush (an upload tick or the end of the run), which takes every
frame finished by then, so the vectorised and the one-event-per-frame paths detect the
same batches.
With ``RecordedDetections`` (``fleetsim.edge.recorded``) a job run before (same frames, same
model bytes) is taken from the record, no job keeps pixels, and selected samples are rendered
again alone: the results are those of a full run.
Each detected frame's correctness is recorded; selection policies pick samples from
them, within a per-vehicle rate cap (token bucket), and keep their pixels and truth.
"""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from fleetsim.detector.dataset import SampleArchive
from fleetsim.detector.evaluation import (
    Detections,
    GroundTruth,
    Matched,
    Objects,
    Ranking,
    match,
    matched_map50,
)
from fleetsim.detector.matched_file import MatchedFile
from fleetsim.detector.registry import ModelRegistry
from fleetsim.detector.runtime import OnnxDetector, Slots, above
from fleetsim.edge.fleet import Vehicle
from fleetsim.edge.recorded import RecordedDetections, without_pixels
from fleetsim.edge.selection import candidates
from fleetsim.memory import give_back_freed_memory
from fleetsim.metrics.accuracy import AccuracyRecord, stack_records
from fleetsim.metrics.ledger import FrameBatch
from fleetsim.rng import GOLDEN, component_key
from fleetsim.scenario.models import Scenario
from fleetsim.world import Conditions, render
from fleetsim.world.render import AnnotatedFrames
from fleetsim.world.scene import CLASSES
from fleetsim.world.schedule import ConditionSchedule

_FIELDS = ("vehicle", "camera", "counter", "capture_s", "done_s", "model_version")
JOB_FRAMES = 128
"""Offered frames are handed to a worker once this many wait (and at every flush)."""
_SCORES = ("confidence", "uncertainty")  # record fields of float32 scores, held as float32 (``_narrowed``)


class _Offered:
    """Frames handed to a worker: their fields, and (once it is done) their pixels and decoded slots."""

    def __init__(self, fields: dict[str, np.ndarray], work: Future | tuple[AnnotatedFrames, Slots]):
        self.fields = fields
        self._work = work

    @property
    def pending(self) -> bool:
        """Whether its worker is still rendering and detecting it."""
        return isinstance(self._work, Future) and not self._work.done()

    def rendered(self) -> tuple[AnnotatedFrames, Slots]:
        if isinstance(self._work, Future):
            self._work = self._work.result()
        return self._work

    def take(self, rows: np.ndarray) -> _Offered:
        """The frames ``rows`` of these (waits for the worker)."""
        frames, slots = self.rendered()
        return _Offered({k: v[rows] for k, v in self.fields.items()},
                        (frames.subset(rows), tuple(s[rows] for s in slots)))


class FleetDetection:
    """Pending detected frames, their results, and the samples chosen from them."""

    def __init__(self, scenario: Scenario, vehicles: list[Vehicle], registry: ModelRegistry, seed: int,
                 recorded: RecordedDetections | None = None):
        self.scenario = scenario
        self.recorded = recorded
        self.replayed = 0  # frames this run took from ``recorded``
        self._model_digests: dict[int, str] = {}
        self.vehicles = vehicles
        self.registry = registry
        variants = registry.variants
        self.variant = np.array([variants.index(v.variant) for v in vehicles], dtype=np.int64)
        self.every = scenario.detector.detect_every
        self.schedule = ConditionSchedule(scenario.world)
        self.region = np.array([self.schedule.region_index(v.spec.region) for v in vehicles])
        cameras = max(len(v.spec.cameras) for v in vehicles)
        self.frame_keys = np.array([[component_key(seed, "frame", v.spec.name, v.local_index, c)
                                     for c in range(cameras)] for v in vehicles], dtype=np.uint64)
        self.phase = (self.frame_keys % np.uint64(self.every)).astype(np.int64)
        self.tokens = np.ones(len(vehicles))  # a vehicle may keep its first sample at once
        self.token_time = np.zeros(len(vehicles))
        self.archive = SampleArchive()
        self._waiting = {name: [] for name in _FIELDS}  # offered, not yet handed to a worker
        self._offered: list[_Offered] = []
        self._workers = ThreadPoolExecutor(scenario.detector.threads, thread_name_prefix="fleetsim-detect")
        self.records: list[dict[str, np.ndarray]] = []  # each field narrowed (``_narrowed``)
        self._dtypes: dict[str, np.dtype] = {}  # each field's own dtype, which the results get back
        self.matched = MatchedFile(len(CLASSES))  # boxes are dropped once matched: a day's run finds millions
        self.frames_done = 0
        self.waited_s = 0.0  # host seconds the simulation waited for the workers' jobs a flush needed
        self._taken = False  # the records and matched rows went to the results

    def detected(self, vehicle: np.ndarray, camera: np.ndarray, counter: np.ndarray) -> np.ndarray:
        """Which frames (by vehicle, camera, per-camera counter) are really detected."""
        return np.mod(counter, self.every) == self.phase[vehicle, camera]

    def offer(self, batch: FrameBatch) -> None:
        """Hand the batch's detected frames to the workers (in jobs of ``JOB_FRAMES``)."""
        rows = np.flatnonzero(batch.detected)
        if len(rows) == 0:
            return
        for name in _FIELDS:
            self._waiting[name].append(getattr(batch, name)[rows])
        if sum(len(a) for a in self._waiting["vehicle"]) >= JOB_FRAMES:
            self._hand_over()

    def flush(self, now: float, select: bool = True) -> None:
        """Detect every offered frame finished by ``now``; optionally select samples."""
        self._hand_over()
        ready, later = [], []
        for offered in self._offered:
            done = offered.fields["done_s"] <= now
            if done.any() and offered.pending:
                started = time.perf_counter()
                offered.rendered()
                self.waited_s += time.perf_counter() - started
            if done.all():
                ready.append(offered)
            elif done.any():
                ready.append(offered.take(np.flatnonzero(done)))
                later.append(offered.take(np.flatnonzero(~done)))
            else:
                later.append(offered)
        self._offered = later
        if not ready:
            return
        frames = {k: np.concatenate([r.fields[k] for r in ready]) for k in _FIELDS}
        order = np.lexsort((frames["counter"], frames["camera"], frames["vehicle"], frames["done_s"]))
        frames = {k: v[order] for k, v in frames.items()}
        rendered = AnnotatedFrames.concat([r.rendered()[0] for r in ready]).subset(order)
        slots = tuple(np.concatenate([r.rendered()[1][k] for r in ready])[order] for k in range(3))
        self._detect(frames, rendered, slots, now if select else None)

    def _hand_over(self) -> None:
        """Start rendering and inference of the waiting frames, split evenly over the workers: a flush
        waits for them, and a few frames in one job would keep one core busy and the other idle."""
        if not self._waiting["vehicle"]:
            return
        fields = {k: np.concatenate(v).astype(np.float64 if k.endswith("_s") else np.int64)
                  for k, v in self._waiting.items()}
        self._waiting = {name: [] for name in _FIELDS}
        n = len(fields["vehicle"])
        for rows in np.array_split(np.arange(n), min(n, self.scenario.detector.threads)):
            self._start({k: v[rows] for k, v in fields.items()})

    def _start(self, fields: dict[str, np.ndarray]) -> None:
        """Start rendering and inference of the frames ``fields`` on a worker."""
        vehicle, camera, counter = fields["vehicle"], fields["camera"], fields["counter"]
        conditions = self.schedule.at(fields["capture_s"], self.region[vehicle])
        keys = self._keys(vehicle, camera, counter)
        size = self.scenario.world.frame_size
        version = self._model_numbers(vehicle, fields["model_version"])
        if self.recorded is not None:
            key = self.recorded.key(keys, conditions, size, version,
                                    {int(v): self._model_digest(int(v)) for v in np.unique(version)})
            if key in self.recorded.jobs:
                self.recorded.replayed += len(keys)
                self.replayed += len(keys)
                self._offered.append(_Offered(fields, self.recorded.jobs[key]))
                return
            self.recorded.detected += len(keys)
        models = {int(v): self.registry.detector(*self._model(int(v))) for v in np.unique(version)}
        if self.recorded is None:
            work = self._workers.submit(_render_and_run, keys, conditions, size, version, models)
        else:
            work = self._workers.submit(_record, self.recorded.jobs, key, keys, conditions, size, version,
                                        models)
        self._offered.append(_Offered(fields, work))

    def _keys(self, vehicle: np.ndarray, camera: np.ndarray, counter: np.ndarray) -> np.ndarray:
        """The render keys of frames (by vehicle, camera, per-camera counter)."""
        with np.errstate(over="ignore"):
            return self.frame_keys[vehicle, camera] ^ (counter.astype(np.uint64) * GOLDEN)

    def _model_numbers(self, vehicle: np.ndarray, version: np.ndarray) -> np.ndarray:
        """The model each frame ran, its version and its vehicle's variant as one number (the version
        itself when the fleet runs one variant)."""
        return version * len(self.registry.variants) + self.variant[vehicle]

    def _model(self, model: int) -> tuple[int, str]:
        """The version and variant a frame's model number (``_hand_over``) stands for."""
        variants = self.registry.variants
        return model // len(variants), variants[model % len(variants)]

    def _model_digest(self, model: int) -> str:
        """SHA-256 of the file of model number ``model`` (read once per run)."""
        if model not in self._model_digests:
            version, variant = self._model(model)
            data = self.registry.paths[version][variant].read_bytes()
            self._model_digests[model] = hashlib.sha256(data).hexdigest()
        return self._model_digests[model]

    def mean_confidence(self, t0: float, t1: float, vehicles: np.ndarray | None = None,
                        version: int | None = None) -> float:
        """Mean top detection score of the frames captured in [t0, t1) and detected so far,
        optionally only of ``vehicles`` and of frames ``version`` ran (NaN if none)."""
        total, count = 0.0, 0
        for record in self.records:
            inside = _frames_in(record, t0, t1, vehicles, version)
            total += float(record["confidence"][inside].astype(self._dtypes["confidence"]).sum())
            count += int(inside.sum())
        return total / count if count else float("nan")

    def map50_of(self, t0: float, t1: float, vehicles: np.ndarray | None = None,
                 version: int | None = None) -> float:
        """mAP@0.5 against ground truth of the same frames as ``mean_confidence`` (NaN if none)."""
        inside = [_frames_in(record, t0, t1, vehicles, version) for record in self.records]
        if not any(frames.any() for frames in inside):
            return float("nan")
        return matched_map50(*self.matched.rows(np.concatenate(inside)), len(CLASSES))["map50"]

    def finish(self) -> None:
        """Detect the frames still pending at the end (no samples are selected after the horizon)."""
        self.flush(np.inf, select=False)
        self._workers.shutdown()

    def take_record(self) -> AccuracyRecord:
        """The run's detections for its results, handed over once: this keeps none of them, the matched
        rows are read back from their file class by class as they are ranked, and then the records'
        parts are let go field by field as they are stacked (and widened back): a day's run holds a few
        hundred MiB of them."""
        if self._taken:
            raise RuntimeError("the run's detections were handed to its results already: "
                               "a run's results are built once")
        self._taken = True
        ranking = Ranking(self.matched.by_class())  # while the records are still narrow
        self.matched.close()
        give_back_freed_memory()  # the rows read back, ranked now
        parts, self.records = self.records, []
        frames = stack_records(parts, release=True)
        frames = {k: frames.pop(k).astype(self._dtypes[k], copy=False) for k in list(frames)}  # widened back
        give_back_freed_memory()  # the parts
        return AccuracyRecord(frames, ranking)

    def _detect(self, f: dict[str, np.ndarray], frames: AnnotatedFrames, slots: Slots,
                now: float | None) -> None:
        vehicle, camera, counter = f["vehicle"], f["camera"], f["counter"]
        conditions = frames.conditions
        detector = self.scenario.detector
        found = _per_version(slots, self._model_numbers(vehicle, f["model_version"]))
        truth = GroundTruth(frames.frame, frames.cls, frames.box)
        offset = self.frames_done
        is_tp = match(found, truth)
        kept = found.score >= detector.score_threshold
        n = len(vehicle)
        uncertainty = np.zeros(n)
        np.maximum.at(uncertainty, found.frame, 1 - np.abs(2 * found.score - 1))
        confidence = np.zeros(n)
        np.maximum.at(confidence, found.frame, found.score)
        record = {
            "vehicle": vehicle, "camera": camera, "counter": counter,
            "capture_s": f["capture_s"], "done_s": f["done_s"],
            "model_version": f["model_version"],
            "condition": conditions.label_codes(),
            "objects": np.bincount(truth.frame, minlength=n),
            "found": np.bincount(found.frame[kept], minlength=n),
            "true_positives": np.bincount(found.frame[kept & is_tp], minlength=n),
            "confidence": confidence,
            "uncertainty": uncertainty,
            "selected": np.zeros(n, dtype=bool),
        }
        record["false_positives"] = record["found"] - record["true_positives"]
        if now is not None:
            record["selected"] = self._select(frames, record, now)
        self._dtypes = {k: v.dtype for k, v in record.items()}
        self.records.append(_narrowed(record))
        self.matched.append(Matched(found.frame + offset, found.cls, found.score, is_tp),
                            Objects(truth.frame + offset, truth.cls))
        self.frames_done += n

    def _select(self, frames, record: dict[str, np.ndarray], now: float) -> np.ndarray:
        """Per vehicle, keep candidate frames in priority order while the rate cap allows."""
        selected = np.zeros(len(record["vehicle"]), dtype=bool)
        for v in np.unique(record["vehicle"]):
            vehicle = self.vehicles[v]
            uploads = vehicle.spec.uploads
            rows = np.flatnonzero(record["vehicle"] == v)
            wanted = rows[candidates(uploads.selection, vehicle, record, frames.conditions, rows)]
            cap = max(1.0, uploads.max_rate * uploads.interval)
            self.tokens[v] = min(cap, self.tokens[v] + (now - self.token_time[v]) * uploads.max_rate)
            self.token_time[v] = now
            take = wanted[: int(self.tokens[v])]
            self.tokens[v] -= len(take)
            selected[take] = True
            if len(take):
                ids = self._keep(frames, record, take)
                evicted = vehicle.samples.add(record["done_s"][take], ids, record["uncertainty"][take])
                self.archive.release(evicted)
        return selected


    def _keep(self, frames: AnnotatedFrames, record: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
        """Keep frames ``rows`` as samples (rendered again, alone, if detection kept no pixels)."""
        if self.recorded is None:
            return self.archive.add(frames, rows)
        keys = self._keys(record["vehicle"][rows], record["camera"][rows], record["counter"][rows])
        pixels = render(keys, frames.conditions.take(rows), size=self.scenario.world.frame_size, threads=1)
        return self.archive.add(pixels, np.arange(len(rows)))


def _narrowed(record: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``record`` with each integer field in the narrowest integer dtype that holds its values, and the
    scores (float32 numbers in float64 fields) in float32: a day's 744 k frames' records take 26 MiB
    instead of 77 until the results widen them back, to the same values."""
    narrowed = {}
    for name, values in record.items():
        if values.dtype.kind == "i" and len(values):
            values = values.astype(np.result_type(np.min_scalar_type(values.min()),
                                                  np.min_scalar_type(values.max())))
        elif name in _SCORES and np.array_equal(single := values.astype(np.float32), values):
            values = single
        narrowed[name] = values
    return narrowed


def _frames_in(frames: dict[str, np.ndarray], t0: float, t1: float, vehicles: np.ndarray | None,
               version: int | None) -> np.ndarray:
    """Which detected frames were captured in [t0, t1), by ``vehicles``, running ``version``."""
    inside = (frames["capture_s"] >= t0) & (frames["capture_s"] < t1)
    if vehicles is not None:
        inside &= np.isin(frames["vehicle"], vehicles)
    if version is not None:
        inside &= frames["model_version"] == version
    return inside


def _render_and_run(keys: np.ndarray, conditions: Conditions, size: tuple[int, int], version: np.ndarray,
                    models: dict[int, OnnxDetector]) -> tuple[AnnotatedFrames, Slots]:
    """A worker's job: render the frames, and run each through its model (``version``: its number)."""
    frames = render(keys, conditions, size=size, threads=1)
    if len(models) == 1:
        return frames, next(iter(models.values())).slots(frames.images)
    slots = None
    for v, model in models.items():
        rows = np.flatnonzero(version == v)
        out = model.slots(frames.images[rows])
        if slots is None:
            slots = tuple(np.empty((len(keys),) + s.shape[1:], s.dtype) for s in out)
        for whole, part in zip(slots, out, strict=True):
            whole[rows] = part
    return frames, slots


def _record(jobs: dict[str, tuple[AnnotatedFrames, Slots]], key: str, keys: np.ndarray,
            conditions: Conditions, size: tuple[int, int], version: np.ndarray,
            models: dict[int, OnnxDetector]) -> tuple[AnnotatedFrames, Slots]:
    """A worker's job with recorded detections: render and run, record the result without pixels."""
    frames, slots = _render_and_run(keys, conditions, size, version, models)
    jobs[key] = result = (without_pixels(frames), slots)
    return result


def _per_version(slots: Slots, version: np.ndarray) -> Detections:
    """Each model's boxes on their own, in model number order (as the detector's ``detect``)."""
    parts = []
    for v in np.unique(version):
        rows = np.flatnonzero(version == v)
        d = above(tuple(s[rows] for s in slots))
        parts.append(Detections(rows[d.frame], d.cls, d.score, d.box))
    return Detections.concat(parts)
