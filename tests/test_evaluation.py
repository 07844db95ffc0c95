"""Detection evaluation: IoU, VOC matching and all-point AP against hand values and a plain reference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fleetsim.detector import evaluation
from fleetsim.detector.evaluation import (
    Detections,
    GroundTruth,
    Matched,
    Objects,
    Ranking,
    average_precision,
    box_iou,
    class_rows,
    map50,
    map50_by_group,
    match,
    matched_map50,
    matched_map50_by_group,
)


def dets_of(rows: list[tuple[int, int, float, tuple[float, float, float, float]]]) -> Detections:
    """Detections from (frame, cls, score, box) rows."""
    return Detections(frame=[r[0] for r in rows], cls=[r[1] for r in rows],
                      score=[r[2] for r in rows], box=[r[3] for r in rows])


def truth_of(rows: list[tuple[int, int, tuple[float, float, float, float]]]) -> GroundTruth:
    """Ground truth from (frame, cls, box) rows."""
    return GroundTruth(frame=[r[0] for r in rows], cls=[r[1] for r in rows], box=[r[2] for r in rows])


# --- plain reference: loops over frames, classes and detections ---------------------------------

def reference_iou(a, b) -> float:
    a, b = [float(v) for v in a], [float(v) for v in b]
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1]) + max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])
    union -= inter
    return inter / union if union > 0 else 0.0


def reference_match(dets: Detections, truth: GroundTruth, threshold: float = 0.5) -> list[bool]:
    is_tp = [False] * len(dets.frame)
    taken = [False] * len(truth.frame)
    for frame in sorted(set(dets.frame.tolist())):
        for cls in sorted(set(dets.cls.tolist())):
            mine = [i for i in range(len(dets.frame)) if dets.frame[i] == frame and dets.cls[i] == cls]
            mine.sort(key=lambda i: (-float(dets.score[i]), i))
            gts = [j for j in range(len(truth.frame)) if truth.frame[j] == frame and truth.cls[j] == cls]
            for i in mine:
                best, best_j = -1.0, None
                for j in gts:
                    iou = reference_iou(dets.box[i], truth.box[j])
                    if not taken[j] and iou > best:
                        best, best_j = iou, j
                if best_j is not None and best >= threshold:
                    is_tp[i], taken[best_j] = True, True
    return is_tp


def reference_ap(score, is_tp, n_truth: int) -> float:
    """The VOC devkit's voc_ap with use_07_metric=False, written out with Python lists."""
    if n_truth == 0:
        return math.nan
    order = sorted(range(len(score)), key=lambda i: (-float(score[i]), i))
    tp = fp = 0
    recall, precision = [], []
    for i in order:
        tp, fp = tp + bool(is_tp[i]), fp + (not is_tp[i])
        recall.append(tp / n_truth)
        precision.append(tp / (tp + fp))
    mrec, mpre = [0.0, *recall, 1.0], [0.0, *precision, 0.0]
    for i in range(len(mpre) - 1, 0, -1):
        mpre[i - 1] = max(mpre[i - 1], mpre[i])
    return sum((mrec[i + 1] - mrec[i]) * mpre[i + 1] for i in range(len(mrec) - 1) if mrec[i + 1] != mrec[i])


def random_case(seed: int) -> tuple[Detections, GroundTruth]:
    """Few frames and classes, boxes on a coarse grid and scores from a small set, so ties are common."""
    rng = np.random.default_rng(seed)
    n_frames, n_classes = int(rng.integers(1, 6)), int(rng.integers(1, 4))
    n, m = int(rng.integers(0, 40)), int(rng.integers(0, 25))

    def boxes(k):
        xy = rng.integers(0, 6, size=(k, 2))
        return np.concatenate([xy, xy + rng.integers(0, 4, size=(k, 2))], axis=1)

    truth = GroundTruth(frame=rng.integers(0, n_frames, m), cls=rng.integers(0, n_classes, m), box=boxes(m))
    dets = Detections(frame=rng.integers(0, n_frames, n), cls=rng.integers(0, n_classes, n),
                      score=rng.choice([0.2, 0.5, 0.5, 0.7, 0.9], n), box=boxes(n))
    if m and n:  # some near-copies of truth boxes so that there are many true positives
        pick = rng.integers(0, m, n // 2)
        dets.frame[: n // 2], dets.cls[: n // 2] = truth.frame[pick], truth.cls[pick]
        dets.box[: n // 2] = truth.box[pick] + rng.integers(-1, 2, size=(n // 2, 4))
    return dets, truth


# --- IoU -------------------------------------------------------------------------------------------

def test_box_iou_hand_values():
    a = np.array([[0, 0, 2, 2]])
    b = np.array([[0, 0, 2, 2], [5, 5, 6, 6], [1, 0, 3, 2], [0, 0, 1, 1], [2, 0, 4, 2]])
    assert box_iou(a, b).tolist() == [[1.0, 0.0, 1 / 3, 0.25, 0.0]]  # touching edges do not overlap
    assert box_iou(a, b).dtype == np.float64 and box_iou(b, a).shape == (5, 1)


def test_box_iou_of_zero_area_boxes_is_zero_and_empty_shapes():
    point = np.array([[1, 1, 1, 1]])
    assert box_iou(point, point).tolist() == [[0.0]]
    assert box_iou(np.zeros((0, 4)), point).shape == (0, 1)


# --- average precision -----------------------------------------------------------------------------

def test_ap_of_tp_fp_tp_on_two_truths():
    # (precision, recall): (1, .5), (.5, .5), (2/3, 1) -> envelope 1 up to recall .5, then 2/3
    ap = average_precision(np.array([0.9, 0.8, 0.7]), np.array([True, False, True]), n_truth=2)
    assert ap == pytest.approx(0.5 * 1 + 0.5 * 2 / 3, abs=1e-12)


def test_ap_is_order_by_score_not_by_row():
    ap = average_precision(np.array([0.7, 0.9, 0.8]), np.array([True, True, False]), n_truth=2)
    assert ap == pytest.approx(0.5 + 0.5 * 2 / 3, abs=1e-12)


def test_ap_perfect_missing_and_undefined():
    assert average_precision(np.array([0.9, 0.1]), np.array([True, True]), 2) == 1.0
    assert average_precision(np.array([0.9]), np.array([True]), 2) == 0.5  # half the truth never found
    assert average_precision(np.zeros(0), np.zeros(0, bool), 3) == 0.0
    assert average_precision(np.array([0.9]), np.array([False]), 1) == 0.0
    assert math.isnan(average_precision(np.array([0.9]), np.array([False]), 0))


# --- matching --------------------------------------------------------------------------------------

def test_duplicate_detection_of_one_truth_is_false_positive():
    truth = truth_of([(0, 0, (0, 0, 10, 10))])
    dets = dets_of([(0, 0, 0.6, (0, 0, 10, 10)), (0, 0, 0.9, (1, 1, 10, 10))])
    assert match(dets, truth).tolist() == [False, True]  # the higher score takes the box


def test_class_mismatch_never_matches_and_frames_without_truth_give_false_positives():
    truth = truth_of([(0, 1, (0, 0, 10, 10))])
    dets = dets_of([(0, 0, 0.9, (0, 0, 10, 10)), (1, 1, 0.9, (0, 0, 10, 10)), (0, 1, 0.1, (0, 0, 10, 10))])
    assert match(dets, truth).tolist() == [False, False, True]


def test_iou_exactly_at_threshold_counts():
    truth = truth_of([(0, 0, (0, 0, 1, 1)), (1, 0, (0, 0, 1, 1))])
    dets = dets_of([(0, 0, 0.5, (0, 0, 2, 1)), (1, 0, 0.5, (0, 0, 2.25, 1))])  # IoU 0.5 and 0.444
    assert match(dets, truth).tolist() == [True, False]


def test_taken_best_box_falls_back_to_next_free_box():
    truth = truth_of([(0, 0, (0, 0, 10, 10)), (0, 0, (2, 0, 12, 10))])
    dets = dets_of([(0, 0, 0.9, (0, 0, 10, 10)), (0, 0, 0.8, (0, 0, 10, 10))])  # second IoU 8/12 with box 1
    assert match(dets, truth).tolist() == [True, True]


def test_empty_inputs():
    none_d, none_t = dets_of([]), truth_of([])
    some_d, some_t = dets_of([(0, 0, 0.5, (0, 0, 1, 1))]), truth_of([(0, 0, (0, 0, 1, 1))])
    assert match(none_d, some_t).shape == (0,) and match(some_d, none_t).tolist() == [False]
    assert map50(none_d, some_t, 1) == {"map50": 0.0, "ap50": [0.0]}
    result = map50(some_d, none_t, 2)
    assert math.isnan(result["map50"]) and all(math.isnan(ap) for ap in result["ap50"])


@pytest.mark.parametrize("seed", range(60))
def test_match_and_ap_agree_with_plain_reference(seed, monkeypatch):
    if seed % 2:  # candidate pairs in many tiny chunks, some detections spanning several
        monkeypatch.setattr(evaluation, "PAIR_CHUNK", 3)
    if seed % 3 == 0:  # frames matched in small blocks
        monkeypatch.setattr(evaluation, "MATCH_FRAMES", 2)
    dets, truth = random_case(seed)
    is_tp = match(dets, truth)
    assert is_tp.tolist() == reference_match(dets, truth)
    for threshold in (0.0, 0.3, 0.75):
        assert match(dets, truth, threshold).tolist() == reference_match(dets, truth, threshold)
    n_classes = int(max(dets.cls.max(initial=0), truth.cls.max(initial=0))) + 1
    result = map50(dets, truth, n_classes)
    for c in range(n_classes):
        rows = dets.cls == c
        want = reference_ap(dets.score[rows], is_tp[rows], int((truth.cls == c).sum()))
        assert result["ap50"][c] == pytest.approx(want, abs=1e-12, nan_ok=True)
        assert average_precision(dets.score[rows], is_tp[rows], int((truth.cls == c).sum())) == \
            pytest.approx(want, abs=1e-12, nan_ok=True)


# --- mAP -------------------------------------------------------------------------------------------

def test_map50_ignores_classes_without_truth():
    truth = truth_of([(0, 0, (0, 0, 10, 10)), (0, 2, (0, 0, 10, 10)), (1, 2, (0, 0, 10, 10))])
    dets = dets_of([(0, 0, 0.9, (0, 0, 10, 10)), (0, 2, 0.9, (0, 0, 10, 10)), (0, 1, 0.9, (0, 0, 10, 10))])
    result = map50(dets, truth, n_classes=3)
    assert result["ap50"][0] == 1.0 and math.isnan(result["ap50"][1]) and result["ap50"][2] == 0.5
    assert result["map50"] == 0.75


def test_map50_rejects_class_ids_out_of_range():
    with pytest.raises(ValueError, match="class ids"):
        map50(dets_of([(0, 3, 0.5, (0, 0, 1, 1))]), truth_of([]), n_classes=3)


def test_map50_by_group_splits_frames():
    truth = truth_of([(0, 0, (0, 0, 10, 10)), (1, 0, (0, 0, 10, 10)), (2, 0, (0, 0, 10, 10))])
    dets = dets_of([(0, 0, 0.9, (0, 0, 10, 10)), (1, 0, 0.8, (50, 50, 60, 60)), (3, 0, 0.7, (0, 0, 1, 1))])
    frame_group = np.array([0, 1, 1, 2])  # group 2 has detections but no truth
    out = map50_by_group(dets, truth, frame_group, ["city", "highway", "tunnel"], n_classes=1)
    assert out == {"city": 1.0, "highway": 0.0}
    everything = map50_by_group(dets, truth, np.zeros(4, int), ["all"], n_classes=1)
    assert everything["all"] == map50(dets, truth, 1)["map50"]


@pytest.mark.parametrize("stretch", [7, evaluation.RANK_STRETCH])
@pytest.mark.parametrize("seed", range(30))
def test_ranking_of_parts_gives_matched_map50s_bit_for_bit(seed, stretch, monkeypatch):
    """Ranked once per class from a run's parts, every grouping's mAP is the one matched_map50_by_group
    gives on the stacked rows: tied scores (common here) keep their row order, and so do a group's
    detections grouped a stretch of the ranking at a time."""
    monkeypatch.setattr(evaluation, "RANK_STRETCH", stretch)
    dets, truth = random_case(seed)
    found, objects = Matched.of(dets, truth), Objects.of(truth)
    n_classes = int(max(dets.cls.max(initial=0), truth.cls.max(initial=0))) + 1
    rng = np.random.default_rng(seed)
    parts = [found.take(rows) for rows in np.array_split(np.arange(len(found.cls)), rng.integers(1, 5))]
    truth_parts = [objects.take(rows) for rows in np.array_split(np.arange(len(objects.cls)), 2)]
    ranking = Ranking(class_rows(parts, truth_parts, n_classes))  # rows in order across the parts
    frames = int(max(dets.frame.max(initial=0), truth.frame.max(initial=0))) + 1
    for groups in (1, 2, 3):
        frame_group = rng.integers(0, groups, frames)
        names = [f"g{g}" for g in range(groups)]
        assert ranking.map50_by_group(frame_group, names) == \
            matched_map50_by_group(found, objects, frame_group, names, n_classes)
    want = matched_map50(found, objects, n_classes)["map50"]
    assert ranking.map50() == want or (math.isnan(want) and math.isnan(ranking.map50()))


def test_ranking_rejects_class_ids_out_of_range_and_holds_nothing_without_parts():
    with pytest.raises(ValueError, match="class ids"):
        Ranking(class_rows([Matched([0], [3], [0.5], [True])], [], n_classes=3))
    empty = Ranking(class_rows([], [], n_classes=3))
    assert math.isnan(empty.map50()) and empty.map50_by_group(np.zeros(0, int), ["all"]) == {}


def test_many_frames_perfect_and_displaced_detectors():
    rng = np.random.default_rng(0)
    frames, per_frame = 5000, 20
    frame = np.repeat(np.arange(frames), per_frame)
    xy = rng.uniform(0, 600, size=(len(frame), 2))
    box = np.concatenate([xy, xy + rng.uniform(5, 80, size=xy.shape)], axis=1)
    truth = GroundTruth(frame=frame, cls=rng.integers(0, 5, len(frame)), box=box)
    dets = Detections(frame=frame, cls=truth.cls, score=rng.uniform(size=len(frame)), box=box)
    assert match(dets, truth).all() and map50(dets, truth, 5)["map50"] == 1.0
    shifted = Detections(frame=frame, cls=truth.cls, score=dets.score, box=box + 10_000)
    assert not match(shifted, truth).any()
