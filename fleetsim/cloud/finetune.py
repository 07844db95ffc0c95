"""A training job really fine-tunes the detector: torch on the uploaded samples, then each variant.

Each job trains on its most recent labelled samples (their pixels with the labels the labelling
stage gave them: ground truth from annotators, pseudo-labels from the teacher) mixed with
replayed clear-day frames against forgetting, and re-makes every variant the fleet runs.
Variants made from the baseline's weights share one fine-tune of the deployed baseline weights
(at first the shipped ``baseline.pt``) and are re-made from it (``REEXPORT``): int8 static QDQ
with fresh calibration on the job's own samples (per channel, or per tensor), int8 after a
quantization-aware epoch on the same frames, fp16 by ONNX Runtime's converter, fp32 as
trained. A pruned variant or student (``OWN_WEIGHTS``) fine-tunes its own deployed weights (at
first the ones shipped beside its file) on the same frames for the same epochs and is
re-exported as int8 QDQ; a distilled student (``*_kd``) with the loss it was built with, its
soft targets the cloud teacher's heads on the job's frames. Only deployed variants are
trained. Each variant's file is scored per condition on held-out validation frames that no
vehicle ever sees. The validation gate passes the version only if its held-out mAP, averaged
over conditions and variants, beats the deployed version's by more than ``min_gain``; a
version that fails is recorded but not rolled out, and the next job starts from the deployed
weights. A fleet that runs one variant pays for one fine-tune, one export and one scoring.
The host's wall time is measured separately from the job's simulated duration, which the
cluster's hardware model gives.

A job's fine-tune runs on a worker thread from the moment the job starts while the simulation
goes on towards the job's simulated completion, where its result is joined. One worker takes
the jobs and rollbacks in the order the simulation asks for them, so every fine-tune starts
from the same weights, with the same samples, as if the simulation had waited for it.
"""

from __future__ import annotations

import copy
import fcntl
import shutil
import tempfile
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from fleetsim.detector.baseline import BASELINE_DIR, EVAL_CONDITIONS, WEIGHTS, evaluate, read_card
from fleetsim.detector.compression import distils, own_model, teacher_heads
from fleetsim.detector.dataset import clear_day, render_dataset
from fleetsim.detector.export import convert_fp16, export_int8, export_onnx
from fleetsim.detector.model import CenterNet
from fleetsim.detector.qat import QuantizationAware
from fleetsim.detector.runtime import OnnxDetector
from fleetsim.detector.training import TrainingSettings, train
from fleetsim.detector.variants import OWN_WEIGHTS
from fleetsim.hardware.training import TrainingWork
from fleetsim.hardware.workload import Workload
from fleetsim.memory import give_back_freed_memory
from fleetsim.rng import component_key
from fleetsim.world import AnnotatedFrames

TRAINING_THREADS = 2
"""Torch threads of every fine-tune, whatever detector.threads says: float sums depend on the
thread count, and the same scenario and seed must give the same weights. Their idle waits do not
spin (``fleetsim`` sets ``OMP_WAIT_POLICY=PASSIVE``): a fine-tune runs beside the simulation and
the detection workers."""
CALIBRATION_FRAMES = 64
"""Frames the int8 quantizer calibrates activation ranges on (the job's newest samples)."""
QAT_LEARNING_RATE = 1e-4
"""Learning rate of ``int8_qat``'s quantization-aware epoch after the fine-tune (the variant's recipe's)."""
_SHIPPED_SCORES: dict[tuple, dict[str, float]] = {}
"""Held-out mAP of the models runs start with, kept per process: the same file, frames and session
settings always score the same, and scoring costs a second or two of every run's start."""


class LabelledSamples(Protocol):
    """Where a job's samples come from: the sample store (its labels) or a SampleArchive (ground truth)."""

    def frames(self, ids: np.ndarray) -> AnnotatedFrames: ...


@dataclass(frozen=True)
class FineTuned:
    """What one job produced."""

    paths: dict[str, Path]  # the ONNX file of each deployed variant
    parent_job: int  # the job whose weights it started from (0: the shipped baseline)
    samples: int  # uploaded samples trained on
    replay: int  # replayed clear-day frames mixed in
    map50: dict[str, float]  # per validation condition, averaged over the variants
    deployed_map50: float  # mean held-out mAP of the model it has to beat
    passed: bool  # through the validation gate
    host_wall_s: float
    size_bytes: int  # of all its files


class FineTuner:
    """Holds the latest weights and turns a job's samples into the next model version."""

    overlaps = True
    """Fine-tunes run on a worker while the simulation goes on (False: the simulation waits for each)."""

    def __init__(self, settings, samples: LabelledSamples, seed: int, threads: int, batch_size: int,
                 initial: dict[str, Path]):
        self.settings = settings
        self.samples = samples
        self.seed = seed
        self.threads = threads
        self.batch_size = batch_size
        self.workdir = ModelsFolder()
        self.last_job = 0  # the job whose weights are deployed (0: the shipped model)
        self.variants = list(initial)  # the variants the fleet runs, each re-made by every job
        self.own = [v for v in self.variants if v in OWN_WEIGHTS]  # fine-tuned on their own weights
        shipped = {v: self._shipped_scores(path) for v, path in initial.items()}
        self.shipped_map50 = _per_condition(shipped)  # per condition, of the models run first
        self.deployed_map50 = _mean_over(shipped)
        self._before: dict[int, tuple] = {}  # job -> what was deployed before it passed the gate
        self.waited_s = 0.0  # host seconds the simulation waited for fine-tunes to finish
        self._worker = (ThreadPoolExecutor(1, thread_name_prefix="fleetsim-finetune") if self.overlaps
                        else None)

    @cached_property
    def model(self) -> CenterNet:
        """The latest weights: the shipped baseline's until a job passes the gate. Read when a first
        fine-tune needs them, on the worker: a run without jobs never reads them (a fifth of a second,
        a third of a small fleet's run of a few minutes)."""
        model = CenterNet(tuple(read_card()["widths"]["baseline"]))
        model.load_state_dict(torch.load(BASELINE_DIR / WEIGHTS, weights_only=True))
        return model.eval()

    @cached_property
    def own_models(self) -> dict[str, CenterNet]:
        """The latest weights of each deployed pruned variant and student: the shipped ones until a job
        passes the gate (read on the worker, like ``model``)."""
        return {v: own_model(v) for v in self.own}

    def start(self, job_id: int, sample_ids: list[int], epochs: int) -> Future[FineTuned]:
        """``fine_tune`` on the worker, after every job and rollback asked for before it."""
        new = self.samples.frames(np.asarray(sample_ids))  # the samples as they are now
        return self._in_order(self._fine_tune, job_id, new, epochs)

    def join(self, tuned: Future[FineTuned]) -> FineTuned:
        """A started job's result, waiting for its fine-tune if it still runs (counted in ``waited_s``)."""
        started = time.perf_counter()
        result = tuned.result()
        self.waited_s += time.perf_counter() - started
        return result

    def rollback(self, job_id: int) -> None:
        """The fleet rolled job ``job_id``'s model back: later jobs start from what it replaced."""
        self._in_order(self._rollback, job_id)

    def finish(self) -> None:
        """Drop the fine-tunes whose results the run no longer needs (after the horizon)."""
        if self._worker is not None:
            self._worker.shutdown(cancel_futures=True)

    def _in_order(self, work, *args) -> Future:
        if self._worker is not None:
            return self._worker.submit(work, *args)
        started = time.perf_counter()  # no worker: the simulation waits for the work here
        done = Future()
        done.set_result(work(*args))
        self.waited_s += time.perf_counter() - started
        return done

    def _rollback(self, job_id: int) -> None:
        if self.last_job == job_id:
            self._deploy(*self._before[job_id])

    def _deployed(self) -> tuple:
        """What a passing job replaces and a rollback restores: the baseline's weights (None if never
        read), the pruned variants' and students' own, the job they came from and their mean mAP."""
        return self.__dict__.get("model"), self.own_models, self.last_job, self.deployed_map50

    def _deploy(self, model: CenterNet | None, own: dict[str, CenterNet], job: int, map50: float) -> None:
        if model is not None:
            self.model = model
        self.own_models, self.last_job, self.deployed_map50 = own, job, map50

    def _shipped_scores(self, path: Path) -> dict[str, float]:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, self.settings.validation_frames,
               self.threads, self.batch_size)
        if key not in _SHIPPED_SCORES:
            _SHIPPED_SCORES[key] = self._scores(path)
        return dict(_SHIPPED_SCORES[key])

    def _scores(self, path: Path) -> dict[str, float]:
        found = evaluate(OnnxDetector(path, self.threads, self.batch_size), self.settings.validation_frames,
                         tuple(EVAL_CONDITIONS))
        return {c: s["map50"] for c, s in found.items()}

    def replay_count(self, samples: int) -> int:
        return int(round(self.settings.replay * samples))

    def fine_tune(self, job_id: int, sample_ids: list[int], epochs: int) -> FineTuned:
        """Fine-tune the latest model on ``sample_ids`` (plus replay) for ``epochs``, waiting for it."""
        return self.join(self.start(job_id, sample_ids, epochs))

    def _fine_tune(self, job_id: int, new: AnnotatedFrames, epochs: int) -> FineTuned:
        started = time.perf_counter()
        give_back_freed_memory()  # what the simulation freed so far, before training's peak joins it
        replay = self.replay_count(len(new.images))
        parts = [new]
        if replay:
            key = int(component_key(self.seed, "replay", job_id) % (2**31))
            parts.append(render_dataset(replay, key, clear_day(replay, key), purpose="replay"))
        data = AnnotatedFrames.concat(parts)
        seed = int(component_key(self.seed, "finetune", job_id) % (2**31))
        settings = TrainingSettings(epochs=epochs, batch_size=self.settings.batch_size,
                                    learning_rate=self.settings.learning_rate, threads=TRAINING_THREADS,
                                    channels_last=True)
        shared = len(self.own) < len(self.variants)  # a variant made from the baseline's weights runs
        tuned = train(copy.deepcopy(self.model), data, seed, settings) if shared else None
        soft = teacher_heads(data.images) if any(distils(v) for v in self.own) else None
        own = {v: train(copy.deepcopy(m), data, seed, settings, teacher=soft if distils(v) else None)
               for v, m in self.own_models.items()}
        give_back_freed_memory()  # training's activations, before the export's calibration joins them
        paths, scores = {}, {}
        calibration = new.images[-CALIBRATION_FRAMES:]
        for variant in self.variants:
            path = Path(self.workdir.name) / f"v{job_id}_{variant}.onnx"
            paths[variant] = (export_int8(own[variant], path, calibration) if variant in own
                              else self._export(tuned, variant, path, data, calibration, seed))
            scores[variant] = self._scores(paths[variant])
        parent, to_beat = self.last_job, self.deployed_map50
        passed = _mean_over(scores) > to_beat + self.settings.min_gain
        if passed:
            self._before[job_id] = self._deployed()
            self._deploy(tuned, own, job_id, _mean_over(scores))
        give_back_freed_memory()  # training's activations and the quantizer's copies
        return FineTuned(paths=paths, parent_job=parent, samples=len(new.images), replay=replay,
                         map50=_per_condition(scores), deployed_map50=to_beat, passed=passed,
                         host_wall_s=time.perf_counter() - started,
                         size_bytes=sum(p.stat().st_size for p in paths.values()))

    def _export(self, tuned: CenterNet, variant: str, path: Path, data: AnnotatedFrames,
                calibration: np.ndarray, seed: int) -> Path:
        """Write ``variant`` of the fine-tuned weights ``tuned`` (``REEXPORT``)."""
        if variant == "int8":
            return export_int8(tuned, path, calibration)
        if variant == "int8_per_tensor":
            return export_int8(tuned, path, calibration, per_channel=False)
        if variant == "int8_qat":
            aware = copy.deepcopy(tuned)
            train(QuantizationAware(aware), data, seed, TrainingSettings(
                epochs=1, batch_size=self.settings.batch_size, learning_rate=QAT_LEARNING_RATE,
                threads=TRAINING_THREADS, channels_last=True))
            return export_int8(aware, path, calibration)
        if variant == "fp32":
            return export_onnx(tuned, path)
        with tempfile.TemporaryDirectory() as tmp:  # fp16
            return convert_fp16(export_onnx(tuned, Path(tmp) / "fp32.onnx"), path)


REEXPORT = ("int8", "fp32", "fp16", "int8_per_tensor", "int8_qat")
"""The variants a job re-makes from its fine-tune of the baseline's weights; with ``OWN_WEIGHTS``, every
variant a retraining fleet may run (``fleetsim.scenario.references.FINE_TUNABLE``)."""


class ModelsFolder:
    """A run's folder of fine-tuned model files, in the temporary directory, removed when the run lets go
    of it; a run killed before that (SIGKILL, a sweep's stopped worker) cannot, so each new one first
    removes the folders whose run is gone. A live run holds an ``fcntl`` lock on its folder's
    ``.lock`` (taken before the file has that name, so a folder is never seen unlocked while in use);
    a lock no process holds means its run is gone, whatever machine or container shared the folder."""

    PREFIX = "fleetsim_models_"

    def __init__(self):
        _remove_abandoned(Path(tempfile.gettempdir()), self.PREFIX)
        self._folder = tempfile.TemporaryDirectory(prefix=self.PREFIX)
        self.name = self._folder.name
        taking = Path(self.name) / ".lock.taking"
        self._lock = taking.open("w")  # noqa: SIM115 (held while the folder lives)
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        taking.rename(Path(self.name) / ".lock")
        weakref.finalize(self, _let_go, self._folder, self._lock)


def _let_go(folder: tempfile.TemporaryDirectory, lock) -> None:
    """Remove ``folder``, then release its lock: no other run sees it unlocked while it is still there."""
    folder.cleanup()
    lock.close()


def _remove_abandoned(root: Path, prefix: str) -> None:
    """Remove the folders ``prefix``* under ``root`` whose ``.lock`` no process holds."""
    for folder in root.glob(f"{prefix}*"):
        try:
            with (folder / ".lock").open("r") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # taken: nobody holds it
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:  # held (in use), no lock file (not one of these), or not ours to open
            continue


def trained_work(workloads: dict[str, Workload], teacher: Callable[[], Workload]) -> TrainingWork:
    """What each job of a fleet running ``workloads``' variants (by name, each its costed workload) trains,
    as ``FineTuner`` trains it: the baseline's network for the job's epochs if a variant made from it runs
    (any of them costs it: they share its MACs and parameters), one quantization-aware epoch of it for
    ``int8_qat``, each pruned variant and student for the job's epochs, and the teacher (``teacher()``)
    forward once on the frames if a distilled student runs."""
    own = [v for v in workloads if v in OWN_WEIGHTS]
    shared = [workloads[v] for v in workloads if v not in OWN_WEIGHTS][:1]
    return TrainingWork(every_epoch=(*shared, *(workloads[v] for v in own)),
                        one_epoch=tuple(shared) if "int8_qat" in workloads else (),
                        forward=(teacher(),) if any(distils(v) for v in own) else ())


def _mean(scores: dict[str, float]) -> float:
    return float(np.mean(list(scores.values())))


def _mean_over(scores: dict[str, dict[str, float]]) -> float:
    """Mean held-out mAP over conditions, then over variants."""
    return float(np.mean([_mean(s) for s in scores.values()]))


def _per_condition(scores: dict[str, dict[str, float]]) -> dict[str, float]:
    """Each condition's mAP averaged over the variants (a variant's own with one)."""
    if len(scores) == 1:
        return next(iter(scores.values()))
    return {c: float(np.mean([s[c] for s in scores.values()])) for c in next(iter(scores.values()))}
