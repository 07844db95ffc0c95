"""The cloud's store of uploaded training samples: labelling, retention, counts.

An arriving upload's samples go to the labeller (``cloud.labeling.labeler``) at once; each
sample joins the store's labelled pool when its label is ready, oldest label first. The pool
obeys ``cloud.labeling.retention``: past ``max_samples`` the oldest labelled are dropped, and
a sample is dropped ``max_age`` after its upload arrived. Every sample received ends in one
counted state: pending (waiting for its label), retained (labelled, in the pool) or dropped
(by ``max_samples`` or ``max_age``). Retraining policies see only the labelled pool:
``new_samples`` counts the retained samples labelled since the last job's snapshot (a label
that expired first never counts), ``sample_ids`` lists the retained samples in label order,
and ``frames`` gives them back with their labels.
The samples' pixels go to a file on arrival (``PixelFile``); only labels stay in memory.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace

import numpy as np
import pandas as pd
import simpy

from fleetsim.cloud.labeling import LabelBatch, Labeler
from fleetsim.cloud.pixels import PixelFile
from fleetsim.edge.facade import Upload
from fleetsim.metrics.events import EventLog
from fleetsim.scenario.labeling import Retention
from fleetsim.world import AnnotatedFrames

MAX_SAMPLES, MAX_AGE = "max_samples", "max_age"
STATES = ("received", "pending", "labelled", "retained", "dropped")


class SampleStore:
    """Uploaded samples, their labelling and the labelled pool the retraining policy trains on."""

    def __init__(self, env: simpy.Environment, retention: Retention, labeler: Labeler, log: EventLog):
        self.env = env
        self.retention = retention
        self.labeler = labeler
        self.log = log
        self.received = 0
        self.labelled = 0
        self.used_by_last_job = 0  # labelled samples a job had seen when it took its snapshot
        self.labelling_usd = 0.0  # price of the labels delivered so far
        self.pixels = PixelFile()
        # sample id -> (its labels without pixels, its row in ``pixels``, arrival time, condition
        # label, its label's number from 1), oldest label first
        self._pool: OrderedDict[int, tuple[AnnotatedFrames, int, float, str, int]] = OrderedDict()

    def receive(self, upload: Upload) -> None:
        """Accept samples that finished uploading and send them to be labelled."""
        sample_ids, now = upload.sample_ids, upload.t_s
        if not len(sample_ids):
            return
        self.received += len(sample_ids)
        conditions = upload.truth.conditions.labels()
        for sample, condition in zip(sample_ids, conditions, strict=True):
            self.log.record("store_samples", sample=int(sample), vehicle=upload.vehicle, group=upload.group,
                            condition=condition, t_received_s=now)
        batch = self.labeler.label(upload.truth, now)
        rows = self.pixels.append(batch.labels.images)
        batch = replace(batch, labels=_without_pixels(batch.labels))
        self.env.process(self._deliver(list(sample_ids), rows, conditions, batch, now))

    @property
    def new_samples(self) -> int:
        """Retained samples labelled since the last training job took its snapshot."""
        count = 0
        for *_, number in reversed(self._pool.values()):  # newest label first
            if number <= self.used_by_last_job:
                break
            count += 1
        return count

    @property
    def retained(self) -> int:
        """Labelled samples in the pool now."""
        return len(self._pool)

    def by_condition(self) -> dict[str, int]:
        """Retained labelled samples by condition label."""
        counts: dict[str, int] = {}
        for _, _, _, condition, _ in self._pool.values():
            counts[condition] = counts.get(condition, 0) + 1
        return counts

    @property
    def sample_ids(self) -> list[int]:
        """Retained labelled samples, oldest label first."""
        return list(self._pool)

    def frames(self, ids) -> AnnotatedFrames:
        """Samples ``ids`` (retained) with the labels the labeller gave them."""
        if len(ids) == 0:
            raise ValueError("no sample ids given")
        entries = [self._pool[int(i)] for i in ids]
        labels = AnnotatedFrames.concat([labels for labels, *_ in entries])
        return replace(labels, images=self.pixels.read([row for _, row, *_ in entries]))

    def _deliver(self, ids: list[int], rows: np.ndarray, conditions: list[str], batch: LabelBatch,
                 received_s: float):
        """Put each sample into the pool when its label is ready."""
        for row in np.argsort(batch.ready_s, kind="stable"):
            yield self.env.timeout(batch.ready_s[row] - self.env.now)
            sample = ids[row]
            self.labelled += 1
            self.labelling_usd += float(batch.cost_usd[row])
            self.log.record("labels", sample=int(sample), labeler=self.labeler.name,
                            condition=conditions[row],
                            t_received_s=received_s, t_labelled_s=self.env.now,
                            delay_s=self.env.now - received_s, objects=int(batch.objects[row]),
                            labels=int(batch.found[row]), true_positives=int(batch.true_positives[row]),
                            cost_usd=float(batch.cost_usd[row]))
            self._pool[sample] = (batch.labels.subset(np.array([row])), int(rows[row]), received_s,
                                  conditions[row], self.labelled)
            self._retain(sample, received_s)

    def _retain(self, sample: int, received_s: float) -> None:
        """Apply the retention limits after ``sample`` joined the pool."""
        limit, age = self.retention.max_samples, self.retention.max_age
        if age is not None:
            if self.env.now >= received_s + age:
                self._drop(sample, MAX_AGE)
            else:
                self.env.process(self._expire(sample, received_s + age))
        while limit is not None and len(self._pool) > limit:
            self._drop(next(iter(self._pool)), MAX_SAMPLES)

    def _expire(self, sample: int, at_s: float):
        yield self.env.timeout(at_s - self.env.now)
        if sample in self._pool:
            self._drop(sample, MAX_AGE)

    def _drop(self, sample: int, reason: str) -> None:
        _, _, received_s, condition, _ = self._pool.pop(sample)
        self.log.record("store_drops", sample=int(sample), condition=condition, reason=reason,
                        t_received_s=received_s, t_dropped_s=self.env.now)


def _without_pixels(frames: AnnotatedFrames) -> AnnotatedFrames:
    """``frames`` with empty (0 x 0) images: labels and conditions only."""
    return replace(frames, images=np.empty((len(frames), 0, 0, 3), dtype=np.uint8))


def store_figures(tables: dict[str, pd.DataFrame]) -> tuple[dict, dict, pd.DataFrame]:
    """``samples.*`` store figures, the ``labeling`` summary section and the per-condition table."""
    received, labels, drops = tables["store_samples"], tables["labels"], tables["store_drops"]
    counts = pd.DataFrame({
        "received": received.groupby("condition").size(),
        "labelled": labels.groupby("condition").size(),
        "dropped": drops.groupby("condition").size(),
    }).fillna(0).astype(int)
    counts["pending"] = counts["received"] - counts["labelled"]
    counts["retained"] = counts["labelled"] - counts["dropped"]
    by_condition = counts.reset_index(names="condition")[["condition", *STATES]]
    reasons = drops["reason"].value_counts()
    samples = {"retained": int(counts["retained"].sum()), "expired": int(reasons.get(MAX_AGE, 0)),
               "over_capacity": int(reasons.get(MAX_SAMPLES, 0)),
               "by_condition": {row.condition: {s: int(getattr(row, s)) for s in STATES}
                                for row in by_condition.itertuples()}}
    found, hits = labels["labels"].sum(), labels["true_positives"].sum()
    labeling = {
        "labelled": len(labels),
        "pending_at_end": len(received) - len(labels),
        "cost_usd": float(labels["cost_usd"].sum()),
        "mean_delay_s": float(labels["delay_s"].mean()) if len(labels) else None,
        "label_precision": float(hits / found) if found else None,
        "label_recall": float(hits / labels["objects"].sum()) if labels["objects"].sum() else None,
    }
    return samples, labeling, by_condition
