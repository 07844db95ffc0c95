"""Accuracy of the fleet's real detections: per frame, per condition, per version, over time."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fleetsim.detector.evaluation import Ranking
from fleetsim.metrics.columns import DETECTION_COLUMNS
from fleetsim.metrics.summary import finite_or_none
from fleetsim.world.conditions import all_labels


def stack_records(records: list[dict[str, np.ndarray]], release: bool = False) -> dict[str, np.ndarray]:
    """Per-frame record parts as one, field by field (the part itself, not a copy, for one). With
    ``release`` the parts are emptied, each field let go as soon as it is stacked (a day's run holds
    tens of MiB of them)."""
    names = list(records[0]) if records else []
    if len(records) == 1:
        return {k: records[0].pop(k) for k in names} if release else records[0]
    return {k: np.concatenate([r.pop(k) if release else r[k] for r in records]) for k in names}


class AccuracyRecord:
    """Everything the fleet detected, gathered once the run is over: the frames (stacked records), and
    their matched detections ranked once per class (``Ranking``) for every mAP the results give."""

    def __init__(self, frames: dict[str, np.ndarray], ranking: Ranking):
        self.frames = frames
        self.ranking = ranking

    def __len__(self) -> int:
        return len(self.frames.get("vehicle", ()))

    def table(self, vehicle_names: list[str], group_names: list[str],
              vehicle_group: np.ndarray) -> pd.DataFrame:
        if not len(self):
            return pd.DataFrame({c: [] for c in DETECTION_COLUMNS["detections"]})
        f = self.frames
        v = f["vehicle"]
        return pd.DataFrame({  # the frames' own arrays, not copies (copy-on-write keeps them apart)
            "vehicle": np.array(vehicle_names, dtype=object)[v],
            "group": np.array(group_names, dtype=object)[vehicle_group[v]],
            "camera": f["camera"], "counter": f["counter"],
            "t_capture_s": f["capture_s"], "t_done_s": f["done_s"],
            "model_version": f["model_version"],
            "condition": np.array(all_labels(), dtype=object)[f["condition"]],
            "objects": f["objects"], "found": f["found"], "true_positives": f["true_positives"],
            "false_positives": f["false_positives"], "confidence": f["confidence"],
            "uncertainty": f["uncertainty"], "selected": f["selected"],
        }, copy=False)

    def summary(self) -> dict:
        if not len(self):
            return {"frames": 0, "map50_mean": None, "map50_by_condition": {}, "map50_by_version": {}}
        labels = all_labels()
        by_condition = self.ranking.map50_by_group(self.frames["condition"], labels)
        versions = np.unique(self.frames["model_version"])
        index = np.searchsorted(versions, self.frames["model_version"])
        by_version = self.ranking.map50_by_group(index, [str(v) for v in versions])
        mean = self.ranking.map50()
        return {"frames": len(self), "map50_mean": finite_or_none(mean),
                "map50_by_condition": {k: finite_or_none(v) for k, v in sorted(by_condition.items())},
                "map50_by_version": {k: finite_or_none(v) for k, v in by_version.items()}}

    def windows(self, window_s: float, duration_s: float) -> pd.DataFrame:
        """mAP@0.5 per time window of capture times."""
        count = max(1, int(np.ceil(duration_s / window_s)))
        starts = np.arange(count) * window_s
        out = pd.DataFrame({"t_start_s": starts, "t_end_s": np.minimum(starts + window_s, duration_s),
                            "frames": 0, "map50": np.nan, "condition": "", "model_version": 0})
        if not len(self):
            return out
        window = np.minimum((self.frames["capture_s"] // window_s).astype(np.int64), count - 1)
        scores = self.ranking.map50_by_group(window, [str(w) for w in range(count)])
        labels = np.array(all_labels(), dtype=object)
        for w in np.unique(window):
            rows = window == w
            codes = np.bincount(self.frames["condition"][rows])
            out.loc[w, ["frames", "condition", "model_version"]] = (
                int(rows.sum()), labels[codes.argmax()], int(self.frames["model_version"][rows].max()))
            out.loc[w, "map50"] = scores.get(str(w), np.nan)
        return out
