"""Object-detection evaluation: greedy IoU matching and mAP@0.5.

Average precision is PASCAL VOC 2010+ all-point interpolation: the area under the
monotone (right-to-left maximum) precision envelope over recall. Matching is vectorised
across (frame, class) groups, looping only over the score rank within a group.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np

PAIR_CHUNK = 1 << 16  # candidate pairs whose IoU is computed at once (keeps temporaries in cache)
MATCH_FRAMES = 1 << 14  # frames matched at once: bounds the temporaries of a long run's detections
RANK_STRETCH = 1 << 20  # ranked detections grouped at once (``Ranking.map50_by_group``), likewise


def _coerce(obj: object, dtypes: dict[str, type]) -> None:
    """Cast a frozen dataclass's columns to their dtypes; they must have one length."""
    for name, dtype in dtypes.items():
        object.__setattr__(obj, name, np.asarray(getattr(obj, name), dtype=dtype))
    if "box" in dtypes:
        object.__setattr__(obj, "box", obj.box.reshape(-1, 4))
    lengths = {len(getattr(obj, name)) for name in dtypes}
    if len(lengths) != 1:
        raise ValueError(f"{type(obj).__name__} columns differ in length: {sorted(lengths)}")


class _Rows:
    """Row sets (one row per box) that can be stacked."""

    @classmethod
    def concat(cls, parts: list) -> _Rows:
        """One set holding ``parts`` row after row (frame indices kept); empty for no parts, the
        part itself (not a copy) for one."""
        if len(parts) == 1:
            return parts[0]
        names = [f.name for f in fields(cls)]
        return cls(*(np.concatenate([getattr(p, n) for p in parts]) if parts else [] for n in names))

    def take(self, rows: np.ndarray) -> _Rows:
        """The rows ``rows`` (indices or a boolean mask) of this set, frame indices kept."""
        return type(self)(*(getattr(self, f.name)[rows] for f in fields(self)))


@dataclass(frozen=True)
class Detections(_Rows):
    """Boxes found by the detector, one row per box, across many frames."""

    frame: np.ndarray  # int64 (N,) frame index the box belongs to
    cls: np.ndarray  # int64 (N,) class id
    score: np.ndarray  # float32 (N,) confidence in [0, 1]
    box: np.ndarray  # float32 (N, 4) x0, y0, x1, y1 in pixels

    def __post_init__(self) -> None:
        _coerce(self, {"frame": np.int64, "cls": np.int64, "score": np.float32, "box": np.float32})


@dataclass(frozen=True)
class GroundTruth(_Rows):
    """True boxes, one row per object, across many frames."""

    frame: np.ndarray  # int64 (M,)
    cls: np.ndarray  # int64 (M,)
    box: np.ndarray  # float32 (M, 4)

    def __post_init__(self) -> None:
        _coerce(self, {"frame": np.int64, "cls": np.int64, "box": np.float32})


@dataclass(frozen=True)
class Matched(_Rows):
    """Detections once matched to the truth: what average precision needs, without the boxes."""

    frame: np.ndarray  # int32 (N,) frame index
    cls: np.ndarray  # int16 (N,) class id
    score: np.ndarray  # float32 (N,)
    is_tp: np.ndarray  # bool (N,) matched a true box

    def __post_init__(self) -> None:
        _coerce(self, {"frame": np.int32, "cls": np.int16, "score": np.float32, "is_tp": bool})

    @classmethod
    def of(cls, dets: Detections, truth: GroundTruth, iou_threshold: float = 0.5) -> Matched:
        return cls(dets.frame, dets.cls, dets.score, match(dets, truth, iou_threshold))


@dataclass(frozen=True)
class Objects(_Rows):
    """The true objects' frames and classes (what recall counts), without the boxes."""

    frame: np.ndarray  # int32 (M,)
    cls: np.ndarray  # int16 (M,)

    def __post_init__(self) -> None:
        _coerce(self, {"frame": np.int32, "cls": np.int16})

    @classmethod
    def of(cls, truth: GroundTruth) -> Objects:
        return cls(truth.frame, truth.cls)


def _area(box: np.ndarray) -> np.ndarray:
    """Area of boxes given as coordinate rows x0, y0, x1, y1 (first axis); 0 for inverted boxes."""
    return np.maximum(0.0, box[2] - box[0]) * np.maximum(0.0, box[3] - box[1])


def _iou(a: np.ndarray, b: np.ndarray, area_a: np.ndarray, area_b: np.ndarray) -> np.ndarray:
    """IoU of float64 boxes given as coordinate rows (first axis), broadcasting the rest."""
    inter = np.maximum(0.0, np.minimum(a[2], b[2]) - np.maximum(a[0], b[0]))
    inter *= np.maximum(0.0, np.minimum(a[3], b[3]) - np.maximum(a[1], b[1]))
    union = area_a + area_b - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) float64 IoU between boxes ``a`` (N, 4) and ``b`` (M, 4); 0 for a zero-area union."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4).T
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4).T
    return _iou(a[:, :, None], b[:, None, :], _area(a)[:, None], _area(b)[None, :])


def _by_key_then_score(key: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Order by non-negative int ``key``, then descending score, then index (one stable sort).

    A float32's bits, with the sign bit flipped (all bits for negatives), sort like the floats;
    inverting them gives descending order. Adding 0.0 turns -0.0 into +0.0 so the two tie.
    """
    bits = (np.asarray(score, dtype=np.float32) + np.float32(0.0)).view(np.uint32)
    descending = ~(bits ^ np.where(bits >> 31, np.uint32(0xFFFFFFFF), np.uint32(0x80000000)))
    packed = (np.asarray(key).astype(np.uint64) << np.uint64(32)) | descending.astype(np.uint64)
    return np.argsort(packed, kind="stable")


def _group_ids(dets: Detections, truth: GroundTruth) -> tuple[np.ndarray, np.ndarray]:
    """Dense ids of (frame, class), shared by detections and truth, ordered like (frame, class)."""
    frame = np.concatenate([dets.frame, truth.frame])
    cls = np.concatenate([dets.cls, truth.cls])
    order = np.lexsort((cls, frame))
    f, c = frame[order], cls[order]
    new = np.r_[True, (f[1:] != f[:-1]) | (c[1:] != c[:-1])]
    ids = np.empty(len(frame), dtype=np.int64)
    ids[order] = np.cumsum(new) - 1
    return ids[: len(dets.frame)], ids[len(dets.frame):]


def _close_pairs(dets: Detections, truth: GroundTruth, ranked: np.ndarray, lo: np.ndarray, count: np.ndarray,
                 truth_order: np.ndarray, iou_threshold: float) -> tuple[np.ndarray, ...]:
    """(position in ``ranked``, truth row, IoU) of same-group pairs with IoU >= threshold, in that order.

    Detection ``ranked[i]`` pairs with truth rows ``truth_order[lo[i]:lo[i] + count[i]]``.
    """
    det_box, truth_box = (np.ascontiguousarray(b.T, dtype=np.float64) for b in (dets.box, truth.box))
    det_area, truth_area = _area(det_box), _area(truth_box)
    ends = np.cumsum(count)
    cuts = np.unique(np.r_[0, np.searchsorted(ends, np.arange(PAIR_CHUNK, ends[-1], PAIR_CHUNK)), len(lo)])
    parts = []
    for d0, d1 in zip(cuts[:-1], cuts[1:], strict=True):
        c = count[d0:d1]
        pos = np.repeat(np.arange(d0, d1), c)
        truth_row = truth_order[np.repeat(lo[d0:d1] - (np.cumsum(c) - c), c) + np.arange(len(pos))]
        det_row = ranked[pos]
        iou = _iou(np.take(det_box, det_row, axis=1), np.take(truth_box, truth_row, axis=1),
                   det_area[det_row], truth_area[truth_row])
        close = iou >= iou_threshold  # farther pairs can never match
        parts.append((pos[close], truth_row[close], iou[close]))
    return tuple(np.concatenate(column) for column in zip(*parts, strict=True))


def match(dets: Detections, truth: GroundTruth, iou_threshold: float = 0.5) -> np.ndarray:
    """bool (N,): True where the detection is a true positive.

    Greedy matching within each (frame, class): detections in descending score order (ties by
    original index) each take the *still unmatched* ground-truth box of that frame and class with the
    highest IoU (ties by lowest ground-truth index), if that IoU >= ``iou_threshold``. This is the
    COCO-style variant: unlike the VOC devkit, a detection whose best-overlapping box is already taken
    may still match another free box. Duplicates, wrong classes and boxes in empty frames are false
    positives.
    """
    is_tp = np.zeros(len(dets.frame), dtype=bool)
    if len(dets.frame) == 0 or len(truth.frame) == 0:
        return is_tp
    # Matching never crosses frames, so blocks of frames match alone (original order kept within each).
    det_order, truth_order = (np.argsort(rows.frame, kind="stable") for rows in (dets, truth))
    det_frame, truth_frame = dets.frame[det_order], truth.frame[truth_order]
    edges = np.arange(det_frame[0], det_frame[-1] + MATCH_FRAMES + 1, MATCH_FRAMES)
    det_cut, truth_cut = np.searchsorted(det_frame, edges), np.searchsorted(truth_frame, edges)
    for block in range(len(edges) - 1):
        d = det_order[det_cut[block]:det_cut[block + 1]]
        t = truth_order[truth_cut[block]:truth_cut[block + 1]]
        if len(d) and len(t):
            is_tp[d] = _match_block(Detections(dets.frame[d], dets.cls[d], dets.score[d], dets.box[d]),
                                    GroundTruth(truth.frame[t], truth.cls[t], truth.box[t]), iou_threshold)
    return is_tp


def _match_block(dets: Detections, truth: GroundTruth, iou_threshold: float) -> np.ndarray:
    """``match`` on detections and truth that both hold at least one row."""
    n, m = len(dets.frame), len(truth.frame)
    is_tp = np.zeros(n, dtype=bool)
    det_group, truth_group = _group_ids(dets, truth)
    ranked = _by_key_then_score(det_group, dets.score)
    group_ranked = det_group[ranked]
    starts = np.flatnonzero(np.r_[True, group_ranked[1:] != group_ranked[:-1]])
    rank = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    truth_order = np.argsort(truth_group, kind="stable")
    lo = np.searchsorted(truth_group[truth_order], group_ranked, "left")
    count = np.searchsorted(truth_group[truth_order], group_ranked, "right") - lo
    pos, pair_truth, pair_iou = _close_pairs(dets, truth, ranked, lo, count, truth_order, iou_threshold)
    if len(pos) == 0:
        return is_tp
    # Rank by rank (stable, so each detection's pairs stay contiguous and in truth-row order):
    # at one rank every detection belongs to a different group, so they can all match at once.
    order = np.argsort(rank[pos], kind="stable")
    pos, pair_truth, pair_iou = pos[order], pair_truth[order], pair_iou[order]
    pair_start = np.flatnonzero(np.r_[True, pos[1:] != pos[:-1]])
    count = np.diff(np.r_[pair_start, len(pos)])
    det, rank = ranked[pos[pair_start]], rank[pos[pair_start]]
    taken = np.zeros(m, dtype=bool)
    bounds = np.searchsorted(rank, np.arange(rank[-1] + 2))
    for d0, d1 in zip(bounds[:-1], bounds[1:], strict=True):
        if d0 == d1:
            continue
        a, b = pair_start[d0], pair_start[d1 - 1] + count[d1 - 1]
        candidates = pair_truth[a:b]
        iou = np.where(taken[candidates], -np.inf, pair_iou[a:b])
        best = np.maximum.reduceat(iou, pair_start[d0:d1] - a)
        hits = np.flatnonzero(iou == np.repeat(best, count[d0:d1]))
        owner = np.repeat(np.arange(d1 - d0), count[d0:d1])[hits]
        first = hits[np.r_[True, owner[1:] != owner[:-1]]]  # first best pair of each detection
        free = best > -np.inf  # some close truth box is still unmatched
        taken[candidates[first[free]]] = True
        is_tp[det[d0:d1][free]] = True
    return is_tp


def _ranked_ap(is_tp: np.ndarray, n_truth: int) -> float:
    """All-point AP of detections already sorted by descending score.

    Precision rises only at a true positive, so its right-to-left envelope at each true
    positive is the maximum over the true positives from there on: only those are computed.
    """
    if n_truth == 0:
        return float("nan")
    hits = np.flatnonzero(is_tp)
    precision = np.arange(1, len(hits) + 1) / (hits + 1)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    return float(envelope.sum() / n_truth)  # recall rises by 1/n_truth at each TP


def average_precision(score: np.ndarray, is_tp: np.ndarray, n_truth: int) -> float:
    """All-point interpolated AP (area under the precision envelope over recall). NaN when n_truth == 0."""
    order = np.argsort(-np.asarray(score), kind="stable")
    return _ranked_ap(np.asarray(is_tp, dtype=bool)[order], int(n_truth))


def _class_aps(cls: np.ndarray, score: np.ndarray, is_tp: np.ndarray, truth_cls: np.ndarray,
               n_classes: int) -> np.ndarray:
    """AP of each class 0..n_classes-1 (NaN for classes without truth), one class sorted at a time."""
    if np.any(cls < 0) or np.any(cls >= n_classes) or np.any(truth_cls < 0) or np.any(truth_cls >= n_classes):
        raise ValueError(f"class ids must lie in [0, {n_classes})")
    n_truth = np.bincount(truth_cls, minlength=n_classes)
    aps = np.empty(n_classes)
    for c in range(n_classes):
        rows = np.flatnonzero(cls == c)
        negated = score[rows]
        np.negative(negated, out=negated)
        order = np.argsort(negated, kind="stable")  # descending score, ties by index
        del negated  # a day's run has millions of rows: free each temporary early
        aps[c] = _ranked_ap(is_tp[rows][order], n_truth[c])
    return aps


def _mean_present(aps: np.ndarray) -> float:
    """Mean over the classes that have truth (NaN where none has)."""
    present = ~np.isnan(aps)
    return float(aps[present].mean()) if present.any() else float("nan")


def map50(dets: Detections, truth: GroundTruth, n_classes: int) -> dict[str, float | list[float]]:
    """{"map50": mean AP over classes with at least one truth box (NaN if none), "ap50": per-class APs}."""
    return matched_map50(Matched.of(dets, truth), Objects.of(truth), n_classes)


def map50_by_group(dets: Detections, truth: GroundTruth, frame_group: np.ndarray, group_names: list[str],
                   n_classes: int) -> dict[str, float]:
    """{group name: mAP@0.5 on that group's frames} for groups with at least one truth box.

    ``frame_group[f]`` is the group index of frame ``f``. Matching is per frame, so it runs once.
    """
    return matched_map50_by_group(Matched.of(dets, truth), Objects.of(truth), frame_group, group_names,
                                  n_classes)


def matched_map50(found: Matched, objects: Objects, n_classes: int) -> dict[str, float | list[float]]:
    """``map50`` of detections matched already."""
    aps = _class_aps(found.cls, found.score, found.is_tp, objects.cls, n_classes)
    return {"map50": _mean_present(aps), "ap50": [float(ap) for ap in aps]}


def matched_map50_by_group(found: Matched, objects: Objects, frame_group: np.ndarray, group_names: list[str],
                           n_classes: int) -> dict[str, float]:
    """``map50_by_group`` of detections matched already."""
    frame_group = np.asarray(frame_group, dtype=np.int32)
    det_group, truth_group = frame_group[found.frame], frame_group[objects.frame]
    out: dict[str, float] = {}
    for g, name in enumerate(group_names):
        d, t = det_group == g, truth_group == g
        if t.any():
            aps = _class_aps(found.cls[d], found.score[d], found.is_tp[d], objects.cls[t], n_classes)
            out[name] = _mean_present(aps)
    return out


class ClassRows(NamedTuple):
    """One class's matched detections (their frames, scores and hits) and true objects' frames, each
    in row order."""

    frame: np.ndarray  # int32
    score: np.ndarray  # float32
    is_tp: np.ndarray  # bool
    truth_frame: np.ndarray  # int32


def class_rows(found: list[Matched], objects: list[Objects], n_classes: int) -> Iterator[ClassRows]:
    """The rows of a run's parts (row after row, frame indices kept), one class at a time."""
    found, objects = found or [Matched.concat([])], objects or [Objects.concat([])]
    counted = [0, 0]
    for c in range(n_classes):
        rows = ClassRows(*(np.concatenate([getattr(part, name)[part.cls == c] for part in found])
                           for name in ("frame", "score", "is_tp")),
                         np.concatenate([part.frame[part.cls == c] for part in objects]))
        counted[0] += len(rows.frame)
        counted[1] += len(rows.truth_frame)
        yield rows
    if counted != [sum(len(p.cls) for p in found), sum(len(p.cls) for p in objects)]:
        raise ValueError(f"class ids must lie in [0, {n_classes})")


class Ranking:
    """Matched detections ranked once per class, by descending score with ties by row (as
    ``matched_map50`` ranks them), beside the true objects' frames per class.

    A group's ranking in a class is the class's ranking restricted to the group's frames, so the mAP
    of any grouping of the frames needs no further sort by score. Built one class at a time (from
    ``class_rows`` of a run's parts, or ``fleetsim.detector.matched_file.MatchedFile.by_class``), it
    holds 5 bytes a detection where the matched rows hold 11.
    """

    def __init__(self, classes: Iterable[ClassRows]):
        self.frame: list[np.ndarray] = []  # per class: the frame of each ranked detection
        self.is_tp: list[np.ndarray] = []  # per class: whether each ranked detection is a true positive
        self.truth_frame: list[np.ndarray] = []  # per class: the frame of each true object
        for frame, score, is_tp, truth_frame in classes:  # each class's rows are the ranking's to use up
            order = np.argsort(np.negative(score, out=score), kind="stable")  # descending score, ties by row
            del score  # a day's run ranks millions of detections: one class's temporaries at a time
            self.frame.append(frame[order])
            del frame
            self.is_tp.append(is_tp[order])
            self.truth_frame.append(truth_frame)
            del is_tp, order

    def map50(self) -> float:
        """mAP@0.5 of all the frames (``matched_map50``'s ``map50``)."""
        return self.map50_by_group(np.zeros(self._frames(), dtype=np.int8), ["all"]).get("all", float("nan"))

    def map50_by_group(self, frame_group: np.ndarray, group_names: list[str]) -> dict[str, float]:
        """``matched_map50_by_group``: {group name: mAP@0.5 on its frames} for groups with at least one
        true object; ``frame_group[f]`` (in [0, len(group_names))) is the group of frame ``f``."""
        groups = len(group_names)
        frame_group = np.asarray(frame_group).astype(np.int16 if groups < 2**15 else np.int64)
        aps = np.full((groups, len(self.frame)), np.nan)
        truth = np.zeros((groups, len(self.frame)), dtype=np.int64)
        for c, (frame, is_tp, truth_frame) in enumerate(zip(self.frame, self.is_tp, self.truth_frame,
                                                            strict=True)):
            truth[:, c] = np.bincount(frame_group[truth_frame], minlength=groups)
            scored = np.flatnonzero(truth[:, c])
            hits = {g: [] for g in scored}  # each group's hits in rank order, a piece per stretch
            for start in range(0, len(frame), RANK_STRETCH):  # a stretch at a time: few temporaries
                group = frame_group[frame[start:start + RANK_STRETCH]]
                order = np.argsort(group, kind="stable")  # by group, each group's detections still ranked
                bounds = np.r_[0, np.cumsum(np.bincount(group, minlength=groups))]
                ranked = is_tp[start:start + RANK_STRETCH][order]
                for g in scored:
                    hits[g].append(ranked[bounds[g]:bounds[g + 1]])
            for g in scored:
                aps[g, c] = _ranked_ap(np.concatenate(hits.pop(g) or [np.zeros(0, bool)]), int(truth[g, c]))
        return {name: _mean_present(aps[g]) for g, name in enumerate(group_names) if truth[g].any()}

    def _frames(self) -> int:
        """One more than the highest frame index held (0 if none)."""
        return max((int(f.max()) + 1 for f in (*self.frame, *self.truth_frame) if len(f)), default=0)


def map50_interval(dets: Detections, truth: GroundTruth, n_classes: int, frames: int, reps: int = 200,
                   seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of mAP@0.5 over frames: ``reps`` resamplings of the ``frames``
    frames with replacement, each frame's detections and truth weighted by its draw count.

    Matching is per frame, so it runs once; each resampling only re-weights the ranked rows.
    """
    found, objects = Matched.of(dets, truth), Objects.of(truth)
    counts = np.random.default_rng(seed).multinomial(frames, np.full(frames, 1 / frames), size=reps)
    aps = np.full((reps, n_classes), np.nan)
    for c in range(n_classes):
        n_truth = counts[:, objects.frame[objects.cls == c]].sum(axis=1)
        rows = np.flatnonzero(found.cls == c)
        rows = rows[np.argsort(-found.score[rows], kind="stable")]
        weight = counts[:, found.frame[rows]].astype(np.float64)
        hits = np.cumsum(weight * found.is_tp[rows], axis=1)
        precision = np.divide(hits, np.cumsum(weight, axis=1), out=np.zeros_like(hits),
                              where=weight.cumsum(axis=1) > 0)
        envelope = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
        recalled = (envelope * weight * found.is_tp[rows]).sum(axis=1)
        aps[:, c] = np.where(n_truth > 0, recalled / np.maximum(n_truth, 1), np.nan)
    present = ~np.isnan(aps)
    means = np.where(present.any(axis=1), np.nansum(aps, axis=1) / np.maximum(present.sum(axis=1), 1), np.nan)
    low, high = np.nanquantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)
