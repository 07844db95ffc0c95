"""The labelling stage: uploaded samples get labels, after a queue, at a price.

Both labellers are first-come first-served queues with identical servers
(``fleetsim.queues.ServerPool``, no limit on waiting): ``annotators`` serve one
sample each, for ``time_per_image + time_per_box x boxes`` of its ground truth, and hand
over the ground truth after ``turnaround``; the ``teacher`` serves one upload per call on
its cloud device, for the hardware model's fp32 inference time of that batch, and hands
over its real detections (ONNX Runtime on the samples' pixels) as pseudo-labels. Precision
and recall of every label set against the ground truth are counted per sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from fleetsim.detector.evaluation import Detections, GroundTruth, match
from fleetsim.detector.runtime import OnnxDetector
from fleetsim.detector.variants import teacher_path
from fleetsim.errors import FleetsimError
from fleetsim.hardware.catalog import Catalog
from fleetsim.hardware.graph import workload_from_graph
from fleetsim.hardware.inference import inference_cost
from fleetsim.queues import ServerPool
from fleetsim.scenario.labeling import AnnotatorLabeling, TeacherLabeling
from fleetsim.world import AnnotatedFrames

TEACHER_PRECISION = "fp32"
DEVICE_FIELD = "cloud.labeling.labeler.device"


@dataclass(frozen=True)
class LabelBatch:
    """Labels of the samples of one upload, in upload order."""

    labels: AnnotatedFrames  # pixels of the samples with the labels produced
    ready_s: np.ndarray  # when each sample's label reaches the store
    cost_usd: np.ndarray  # per sample
    objects: np.ndarray  # ground-truth boxes per sample
    found: np.ndarray  # labels (boxes) produced per sample
    true_positives: np.ndarray  # labels matching a ground-truth box (IoU >= 0.5, same class)


class Labeler(Protocol):
    """Labels arriving samples, after its queue: annotators or the teacher model."""

    name: str

    def label(self, truth: AnnotatedFrames, now: float) -> LabelBatch: ...


def label_quality(labels: AnnotatedFrames,
                  truth: AnnotatedFrames) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per sample: ground-truth boxes, labels, and labels that match a ground-truth box."""
    n = len(truth)
    as_found = Detections(labels.frame, labels.cls, np.ones(len(labels.cls), np.float32), labels.box)
    hit = match(as_found, GroundTruth(truth.frame, truth.cls, truth.box))
    count = lambda rows: np.bincount(rows, minlength=n)  # noqa: E731
    return count(truth.frame), count(labels.frame), count(labels.frame[hit])


class AnnotatorQueue:
    """``annotators`` people labelling samples first come, first served; the labels are the ground truth."""

    name = "annotators"

    def __init__(self, spec: AnnotatorLabeling):
        self.spec = spec
        self.pool = ServerPool(spec.annotators)

    def label(self, truth: AnnotatedFrames, now: float) -> LabelBatch:
        spec = self.spec
        objects = np.bincount(truth.frame, minlength=len(truth))
        service = spec.time_per_image + spec.time_per_box * objects
        _, _, finish = self.pool.serve(np.full(len(truth), now), service)
        cost = np.full(len(truth), spec.price_per_image * spec.workers_per_image)
        return LabelBatch(truth, finish + spec.turnaround, cost, objects, objects, objects)


class TeacherLabeler:
    """The teacher detector on one cloud device: each upload is one batched fp32 inference call."""

    name = "teacher"

    def __init__(self, spec: TeacherLabeling, catalog: Catalog, threads: int, batch_size: int):
        self.spec = spec
        self.catalog = catalog
        self.workload = workload_from_graph(teacher_path())
        try:
            self.device = catalog.device(spec.device, "cloud")
            self.call_s(1)
        except FleetsimError as error:
            raise FleetsimError(f"{DEVICE_FIELD}: {error}") from None
        if self.device.hourly_price is None:
            raise FleetsimError(f"{DEVICE_FIELD}: {spec.device} has no hourly_price to cost the teacher's "
                                "time with (choose a cloud model that has one)")
        self.detector = OnnxDetector(teacher_path(), threads, batch_size)
        self.pool = ServerPool(1)

    def call_s(self, batch: int) -> float:
        """Modelled time of one fp32 inference call of ``batch`` samples on the device."""
        cost = inference_cost(self.device, self.workload, TEACHER_PRECISION, self.catalog, batch=batch)
        return cost.latency_s

    def pseudo_labels(self, truth: AnnotatedFrames) -> AnnotatedFrames:
        """The samples' pixels with the teacher's detections at or above the score threshold."""
        found = self.detector.detect(truth.images, threshold=self.spec.score_threshold)
        m = len(found.cls)
        return AnnotatedFrames(truth.images, found.frame, found.cls, found.box, np.ones(m, np.float32),
                               np.zeros(m, bool), truth.conditions)

    def label(self, truth: AnnotatedFrames, now: float) -> LabelBatch:
        n = len(truth)
        call = self.call_s(n)
        _, _, finish = self.pool.serve(np.array([now]), call)
        labels = self.pseudo_labels(truth)
        objects, found, hits = label_quality(labels, truth)
        cost = np.full(n, call * self.device.hourly_price.value / n)
        return LabelBatch(labels, np.full(n, finish[0]), cost, objects, found, hits)


def make_labeler(spec, catalog: Catalog, threads: int, batch_size: int) -> Labeler:
    """The labeller ``cloud.labeling.labeler`` describes."""
    if isinstance(spec, TeacherLabeling):
        return TeacherLabeler(spec, catalog, threads, batch_size)
    return AnnotatorQueue(spec)
