"""The scenario's labelling section: how long uploaded samples are kept and who labels them.

Uploaded samples wait in the cloud's sample store for a label; only labelled samples count
for the retraining policy and are trained on. ``annotators`` are people working through a
queue (labels are the ground truth); ``teacher`` is the project's wider fp32 detector
(fleetsim/detector/teacher), whose real detections become the labels.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, PositiveInt

from fleetsim.scenario.base import Strict
from fleetsim.scenario.types import Duration, Fraction, NonNegativeDuration, Price


class Retention(Strict):
    """Limits on the store's labelled samples; every sample dropped is counted (tables/store_drops)."""

    max_samples: PositiveInt | None = Field(
        None, description="Most labelled samples kept; the oldest labelled beyond it are dropped. "
        "Default: no limit.")
    max_age: Duration | None = Field(
        None, description="Labelled samples are dropped once this long has passed since their upload "
        "arrived (at once if they were labelled later than that). Default: kept for the whole run.")


class AnnotatorLabeling(Strict):
    """People draw the boxes: a first-come first-served queue of ``annotators`` working in parallel."""

    kind: Literal["annotators"] = Field(description="Labeller kind.")
    annotators: PositiveInt = Field(
        10, description="Annotators working at once (each labels one sample at a time); a staffing "
        "choice, not a published figure.")
    time_per_box: Duration = Field(
        "7 s", description="Annotator time per ground-truth box in the sample. Default: 7 s per box with "
        "extreme clicking, against about 35 s for drawing a box the classic way (Papadopoulos, Uijlings, "
        "Keller and Ferrari, 'Extreme clicking for efficient object annotation', ICCV 2017).")
    time_per_image: NonNegativeDuration = Field(
        "0 s", description="Annotator time per sample on top of its boxes (loading, checking an empty "
        "frame). Default 0 s: the per-box figure above is all the source measured.")
    turnaround: NonNegativeDuration = Field(
        "0 s", description="Delay between an annotator finishing and the label reaching the store "
        "(review, batch hand-off); a service-level choice.")
    price_per_image: Price = Field(
        "0.036 USD", description="Price paid per worker per sample. Default: the lowest price Amazon "
        "SageMaker Ground Truth accepts for a bounding-box task on Amazon Mechanical Turk, 0.036 USD "
        "(SageMaker API reference, PublicWorkforceTaskPrice). Ground Truth's own per-object service fee "
        "(aws.amazon.com/sagemaker/groundtruth/pricing) is not included.")
    workers_per_image: PositiveInt = Field(
        1, description="Workers who label each sample, each paid (Ground Truth's pricing page recommends "
        "several per object for accuracy); the time is one worker's, the label the ground truth.")


class TeacherLabeling(Strict):
    """The project's teacher detector labels the samples with its detections on their pixels."""

    kind: Literal["teacher"] = Field(description="Labeller kind.")
    device: str = Field(
        "l4", description="Cloud hardware model id (hardware_models/cloud) the teacher runs on, at fp32: "
        "its modelled inference time of each upload as one batch, and its hourly price, give each "
        "sample's labelling time and cost.")
    score_threshold: Fraction = Field(
        0.3, description="Teacher detections at or above this score become labels.")


Labeler = Annotated[AnnotatorLabeling | TeacherLabeling, Field(discriminator="kind")]


class Labeling(Strict):
    """Sample store retention and the labelling stage between uploads and retraining."""

    retention: Retention = Field(default_factory=Retention, description="Limits on labelled samples kept.")
    labeler: Labeler = Field(
        default_factory=lambda: AnnotatorLabeling(kind="annotators"),
        description="Who labels the samples: 'annotators' (ground truth) or 'teacher' (pseudo-labels).")
