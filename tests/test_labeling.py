"""The sample store and its labelling stage: queue timing, retention, conservation, the teacher."""

from __future__ import annotations

import numpy as np
import pytest
import simpy
from pydantic import ValidationError

import fleetsim
from fleetsim.cloud.labeling import AnnotatorQueue, TeacherLabeler, label_quality, make_labeler
from fleetsim.cloud.pixels import PixelFile
from fleetsim.cloud.store import SampleStore, store_figures
from fleetsim.detector.dataset import SampleArchive, render_dataset
from fleetsim.detector.runtime import OnnxDetector
from fleetsim.detector.variants import teacher_path
from fleetsim.edge.facade import Upload
from fleetsim.errors import FleetsimError
from fleetsim.metrics.columns import STORE_COLUMNS
from fleetsim.metrics.events import EventLog
from fleetsim.queues import ServerPool
from fleetsim.scenario.labeling import AnnotatorLabeling, Labeling, TeacherLabeling
from fleetsim.scenario.models import Scenario
from fleetsim.world import AnnotatedFrames, Conditions
from tests.conftest import small_scenario_data, with_overrides
from tests.test_validate import _first_issue


def _frames(objects: list[int], daylight: float = 0.9) -> AnnotatedFrames:
    """Blank frames holding ``objects[i]`` boxes each (the annotators' service time counts boxes)."""
    n, m = len(objects), sum(objects)
    boxes = np.tile(np.array([[10, 10, 30, 30]], np.float32), (m, 1))
    return AnnotatedFrames(np.zeros((n, 96, 96, 3), np.uint8), np.repeat(np.arange(n), objects),
                           np.zeros(m, np.int64), boxes, np.ones(m, np.float32), np.zeros(m, bool),
                           Conditions.uniform(n, daylight=daylight))


def _archive(frames: AnnotatedFrames) -> SampleArchive:
    archive = SampleArchive()
    archive.add(frames, np.arange(len(frames)))
    return archive


def _store(archive: SampleArchive, catalog=None, **labeling) -> tuple[simpy.Environment, SampleStore,
                                                                       EventLog]:
    scenario = Scenario.model_validate(with_overrides(small_scenario_data(), cloud__labeling=labeling,
                                                      cloud__retraining__min_samples=1))
    env, log = simpy.Environment(), EventLog()
    labeling = scenario.cloud.labeling
    labeler = make_labeler(labeling.labeler, catalog, scenario.detector.threads, scenario.detector.batch_size)
    return env, SampleStore(env, labeling.retention, labeler, log), log


def _tables(log: EventLog) -> dict:
    return {name: log.frame(name, list(columns)) for name, columns in STORE_COLUMNS.items()}


def _upload(env: simpy.Environment, store: SampleStore, archive: SampleArchive, at_s: float, ids: list[int]):
    yield env.timeout(at_s - env.now)
    store.receive(Upload("coral_0000", "coral", ids, archive.take(np.asarray(ids)), env.now))


def test_fifo_queue_known_answers():
    # 5 jobs at t = 0, 2 servers, 10 s each: pairs finish at 10, 20, then the last at 30
    _, start, finish = ServerPool(2).serve(np.zeros(5), np.full(5, 10.0))
    assert finish.tolist() == [10, 10, 20, 20, 30] and start.tolist() == [0, 0, 10, 10, 20]
    # one server, arrivals 0, 1, 2, 30 and 5 s each: D/D/1 waits 0, 4, 8, then an idle server
    pool = ServerPool(1)
    _, start, finish = pool.serve(np.array([0.0, 1, 2, 30]), np.full(4, 5.0))
    assert start.tolist() == [0, 5, 10, 30] and finish.tolist() == [5, 10, 15, 35] and pool.free == [35]


def test_annotators_label_with_ground_truth_at_the_queue_times():
    # 3 annotators, 10 s per image + 7 s per box, 4 samples of 2 boxes (24 s each) at t = 0 and 4 more at 30 s
    frames = _frames([2] * 8)
    archive = _archive(frames)
    env, store, log = _store(archive, labeler={
        "kind": "annotators", "annotators": 3, "time_per_image": "10 s", "turnaround": "60 s",
        "price_per_image": "0.05 USD", "workers_per_image": 2})
    env.process(_upload(env, store, archive, 0.0, [0, 1, 2, 3]))
    env.process(_upload(env, store, archive, 30.0, [4, 5, 6, 7]))
    env.run()
    labels = log.frame("labels", list(STORE_COLUMNS["labels"])).sort_values("sample")
    # first upload: three at 0-24, the fourth on annotator 0 at 24-48; second upload (at 30):
    # annotators 1 and 2 at 30-54, then annotator 0 at 48-72 and annotator 1 at 54-78
    done = [24, 24, 24, 48, 54, 54, 72, 78]
    assert labels["t_labelled_s"].tolist() == [d + 60 for d in done]
    assert labels["delay_s"].tolist() == [d + 60 - r for d, r in zip(done, [0] * 4 + [30] * 4, strict=True)]
    assert labels["cost_usd"].tolist() == pytest.approx([0.1] * 8)
    assert (labels["true_positives"] == labels["objects"]).all() and (labels["labels"] == 2).all()
    got = store.frames(store.sample_ids)
    want = frames.subset(np.array(store.sample_ids))
    assert np.array_equal(got.box, want.box) and np.array_equal(got.frame, want.frame)
    assert np.array_equal(got.images, want.images)  # the pixels came back from the store's file
    assert archive.held == 0  # the uploaded samples' pixels left the vehicles' archive


def test_the_pixel_file_gives_back_the_frames_it_was_given():
    frames = np.random.default_rng(2).integers(0, 256, (7, 5, 4, 3), dtype=np.uint8)
    pixels = PixelFile()
    assert pixels.append(frames[:3]).tolist() == [0, 1, 2]
    assert pixels.append(frames[3:]).tolist() == [3, 4, 5, 6]
    assert np.array_equal(pixels.read([6, 0, 3, 3]), frames[[6, 0, 3, 3]])
    with pytest.raises(ValueError, match="shape"):
        pixels.append(np.zeros((1, 5, 5, 3), np.uint8))
    with pytest.raises(IndexError, match=r"\[0, 7\)"):
        pixels.read([7])


def test_policies_see_only_labelled_samples():
    archive = _archive(_frames([1] * 4))
    env, store, _ = _store(archive, labeler={"kind": "annotators", "annotators": 1})
    env.process(_upload(env, store, archive, 0.0, [0, 1, 2, 3]))
    env.run(until=15.0)  # 7 s each, one annotator: two done
    assert store.received == 4 and store.new_samples == 2 and store.sample_ids == [0, 1]
    store.used_by_last_job = store.labelled
    env.run()
    assert store.new_samples == 2 and store.sample_ids == [0, 1, 2, 3]


def test_retention_drops_and_counts_and_every_sample_is_accounted_for():
    archive = _archive(_frames([1] * 6 + [2] * 4, daylight=0.9))
    env, store, log = _store(archive, labeler={"kind": "annotators", "annotators": 2},
                             retention={"max_samples": 3, "max_age": "100 s"})
    env.process(_upload(env, store, archive, 0.0, list(range(6))))
    env.process(_upload(env, store, archive, 200.0, list(range(6, 10))))
    env.run(until=220.0)  # the second upload: two labelled at 214, two still being labelled
    samples, labeling, by_condition = store_figures(_tables(log))
    drops = log.frame("store_drops", list(STORE_COLUMNS["store_drops"]))
    assert samples["expired"] == 3 and samples["over_capacity"] == 3  # the first six: 3 too many, 3 too old
    assert set(drops.loc[drops["reason"] == "max_age", "t_dropped_s"]) == {100.0}
    assert len(store.sample_ids) == samples["retained"] == 2 and labeling["pending_at_end"] == 2
    assert labeling["labelled"] == 8
    total = samples["retained"] + samples["expired"] + samples["over_capacity"] + labeling["pending_at_end"]
    assert total == store.received == 10
    row = by_condition.set_index("condition").loc["day_clear"]
    assert row["received"] == row["pending"] + row["retained"] + row["dropped"] == 10


def test_labels_that_expired_before_a_job_do_not_count_as_new():
    # one annotator, 7 s per sample, kept 10 s after arrival: the third label (at 21 s) is dropped at once
    archive = _archive(_frames([1] * 4))
    env, store, log = _store(archive, labeler={"kind": "annotators", "annotators": 1},
                             retention={"max_age": "10 s"})
    env.process(_upload(env, store, archive, 0.0, [0, 1, 2, 3]))
    env.run(until=8.0)
    assert store.new_samples == 1 and store.sample_ids == [0]
    env.run(until=12.0)  # sample 0 expired at 10 s
    assert store.new_samples == 0 and store.sample_ids == []
    env.run()
    assert store.labelled == 4 and store.new_samples == 0 and store.sample_ids == []
    assert len(log.frame("store_drops", list(STORE_COLUMNS["store_drops"]))) == 4


def test_labels_older_than_max_age_start_no_job_and_the_run_finishes():
    # regression: the policy counted labels that had expired and fine-tuned on no samples
    # ("ValueError: no sample ids given")
    data = with_overrides(small_scenario_data(), simulation__duration="5 min", outputs__frame_table=False,
                          cloud__labeling={"retention": {"max_age": "1 s"}})
    results = fleetsim.run(Scenario.model_validate(data))
    samples = results.summary["samples"]
    assert results.summary["labeling"]["labelled"] == samples["expired"] > 0 and samples["retained"] == 0
    assert results.summary["retraining"]["jobs_submitted"] == 0


def test_a_trigger_beyond_the_retained_pool_is_rejected():
    with pytest.raises(ValidationError, match=r"retraining.samples \(50\) exceeds labeling.retention"):
        Scenario.model_validate(with_overrides(
            small_scenario_data(),
            cloud__retraining={"kind": "sample_count", "cluster": "gpus", "samples": 50},
            cloud__labeling={"retention": {"max_samples": 20}}))


def test_labelling_settings_reject_bad_input():
    with pytest.raises(ValidationError, match="annotators"):
        Labeling.model_validate({"labeler": {"kind": "crowd"}})
    with pytest.raises(ValidationError, match="greater than 0"):
        AnnotatorLabeling.model_validate({"kind": "annotators", "annotators": 0})
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        TeacherLabeling.model_validate({"kind": "teacher", "score_threshold": 1.5})
    with pytest.raises(ValidationError, match="time_per_box"):
        AnnotatorLabeling.model_validate({"kind": "annotators", "time_per_box": "-3 s"})
    with pytest.raises(ValidationError, match="max_samples"):
        Labeling.model_validate({"retention": {"max_samples": 0}})


def test_teacher_device_must_be_a_cloud_model_that_runs_fp32(catalog):
    with pytest.raises(FleetsimError, match=r"cloud\.labeling\.labeler\.device: .*allowed"):
        TeacherLabeler(TeacherLabeling(kind="teacher", device="coral_usb"), catalog, 1, 16)
    with pytest.raises(FleetsimError, match=r"cloud\.labeling\.labeler\.device: tpu_v4 cannot run fp32"):
        TeacherLabeler(TeacherLabeling(kind="teacher", device="tpu_v4"), catalog, 1, 16)


def test_teacher_pseudo_labels_are_its_real_detections(catalog):
    n = 24
    frames = render_dataset(n, 5, Conditions.uniform(n, daylight=0.1, weather="fog", intensity=0.5),
                            purpose="teacher_probe")
    teacher = TeacherLabeler(TeacherLabeling(kind="teacher", score_threshold=0.4), catalog, 1, 16)
    batch = teacher.label(frames, now=50.0)
    direct = OnnxDetector(teacher_path(), 2, 8).detect(frames.images, threshold=0.4)
    assert np.array_equal(batch.labels.frame, direct.frame) and np.array_equal(batch.labels.cls, direct.cls)
    assert np.allclose(batch.labels.box, direct.box)
    assert len(batch.labels.box) != len(frames.box) or not np.allclose(batch.labels.box, frames.box)
    assert batch.true_positives.sum() < max(batch.found.sum(), batch.objects.sum())  # noisier than truth
    objects, found, hits = label_quality(frames, frames)
    assert (objects == found).all() and (hits == objects).all()  # ground truth scores perfectly
    # cheaper and faster than the default annotators on the same samples
    people = AnnotatorQueue(AnnotatorLabeling(kind="annotators")).label(frames, now=50.0)
    assert batch.cost_usd.sum() < people.cost_usd.sum() / 100
    assert batch.ready_s.max() - 50.0 < (people.ready_s - 50.0).mean() / 100


def test_teacher_labels_reach_the_store_and_its_table(catalog):
    frames = render_dataset(8, 6, Conditions.uniform(8, daylight=0.03), purpose="teacher_store")
    archive = _archive(frames)
    env, store, log = _store(archive, catalog, labeler={"kind": "teacher", "device": "a100"})
    env.process(_upload(env, store, archive, 10.0, list(range(8))))
    env.run()
    labels = log.frame("labels", list(STORE_COLUMNS["labels"]))
    assert (labels["labeler"] == "teacher").all() and (labels["delay_s"] > 0).all()
    assert labels["t_labelled_s"].nunique() == 1  # one batched call per upload
    pseudo = store.frames(store.sample_ids)
    assert np.array_equal(pseudo.images, frames.images)
    _, labeling, _ = store_figures(_tables(log))
    assert labeling["label_recall"] < 1 and labeling["cost_usd"] > 0


@pytest.mark.slow
def test_a_run_with_the_teacher_is_cheaper_faster_and_noisier_than_annotators():
    import fleetsim

    def run(labeler: dict):
        data = with_overrides(small_scenario_data(), cloud__labeling={"labeler": labeler})
        return fleetsim.run(Scenario.model_validate(data))

    people, teacher = run({"kind": "annotators"}), run({"kind": "teacher"})
    p, t = people.summary["labeling"], teacher.summary["labeling"]
    assert (p["labeler"], t["labeler"]) == ("annotators", "teacher")
    assert p["label_precision"] == p["label_recall"] == 1.0
    assert t["label_precision"] < 1.0 or t["label_recall"] < 1.0
    assert t["cost_usd"] < p["cost_usd"] / 100 and t["mean_delay_s"] < p["mean_delay_s"]
    for r in (people, teacher):
        s = r.summary
        assert s["samples"]["uploaded"] == (s["labeling"]["pending_at_end"] + s["samples"]["retained"]
                                            + s["samples"]["expired"] + s["samples"]["over_capacity"])
        assert len(r.tables["labels"]) == s["labeling"]["labelled"]


def test_a_teacher_on_a_device_without_fp32_is_rejected_before_the_run(tmp_path):
    data = with_overrides(small_scenario_data(), cloud__labeling={"labeler": {"kind": "teacher",
                                                                             "device": "tpu_v4"}})
    match = _first_issue(tmp_path, data)
    assert match["path"] == "cloud.labeling.labeler.device"
    assert "tpu_v4 cannot price an fp32 teacher (allowed: " in match["msg"]
