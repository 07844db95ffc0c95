"""Streaming per-frame bookkeeping: per-(vehicle, window) sums and latency histograms.

A run can have hundreds of millions of frames, so frames are folded into fixed
aggregates as they are computed; the full per-frame table is kept only on request.
Latency percentiles come from log-bucket histograms built as a DDSketch (Masson, Rim and
Lee, VLDB 2019): bucket k >= 1 holds the times in [1 ns x g**(k-1), 1 ns x g**k) with
g = (1 + a) / (1 - a), and reads as 2 g**k ns / (g + 1), which is within a = 0.5 % of
every time in it. A percentile is the value of the bucket holding the frame of that rank
(numpy's 'inverted_cdf' quantile), clamped to the exact minimum and maximum: within 0.5 %
of the exact percentile, never outside [min, max]. Bucket 0 holds times under 1 ns (a leg
a frame did not wait in) and reads as 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

RELATIVE_ACCURACY = 0.005
"""Largest relative error of a latency percentile (the sketch's alpha)."""
ZERO_BELOW_S, TOP_S = 1e-9, 1e9
"""Times under 1 ns read as 0; times from TOP_S on (31 years) share the last bucket."""
_GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = float(np.log(_GAMMA))
N_BINS = 2 + int(np.ceil(np.log(TOP_S / ZERO_BELOW_S) / _LOG_GAMMA))


@dataclass(frozen=True)
class FleetLayout:
    """Static facts about each vehicle the ledger needs (arrays indexed by vehicle)."""

    group: np.ndarray  # group index of each vehicle
    group_names: list[str]
    vehicle_names: list[str]
    deadline_s: np.ndarray
    active_power_w: np.ndarray
    idle_power_w: np.ndarray
    host_power_w: np.ndarray | None = None  # the host CPU's part of active_power_w (None: all 0)

    @property
    def vehicles(self) -> int:
        return len(self.group)


@dataclass
class FrameBatch:
    """Frames computed together; every array has one entry per generated frame."""

    vehicle: np.ndarray
    camera: np.ndarray  # camera index within the vehicle
    counter: np.ndarray  # frame number of its camera
    capture_s: np.ndarray
    start_s: np.ndarray  # NaN for dropped frames
    done_s: np.ndarray  # NaN for dropped frames
    processed: np.ndarray  # bool: served to completion
    failed: np.ndarray  # bool: lost to an accelerator outage (else, if not processed, dropped)
    throttled: np.ndarray  # bool: served at the thermally throttled speed
    model_version: np.ndarray
    detected: np.ndarray  # bool: really rendered and run through the detector
    busy_s: np.ndarray | None = None  # the vehicle's accelerator time per frame; None: done - start
    legs: dict[str, np.ndarray | PathLeg] | None = None  # latency by leg (NaN where not processed);
    # None: onboard, queue = start - capture and inference = done - start


@dataclass
class FramePathIndex:
    """Which frame path each frame of a batch took (a path: vehicle, camera, throttled or not)."""

    path: np.ndarray  # per frame: index of its path
    vehicle: np.ndarray  # per path: its vehicle


@dataclass
class PathLeg:
    """A leg whose time depends only on the frame's path: one value per path, not per frame,
    so the ledger folds it per path (frames counted per path) instead of per frame."""

    paths: FramePathIndex
    seconds: np.ndarray  # per path


FRAME_FIELDS = ("vehicle", "camera", "counter", "capture_s", "start_s", "done_s", "processed", "failed",
                "throttled", "model_version", "detected")
"""The FrameBatch fields with one value per frame."""


NS = 1e9
_FLAGS = ("processed", "failed", "late", "detected", "throttled")
"""Bits of a frame's state code: (cell << 5) | flags, counted in one bincount."""
_CODES = np.arange(1 << len(_FLAGS))
_COUNTED = np.stack([  # (code, counter): 1 where a frame with that state code counts, in COUNTERS order
    np.ones_like(_CODES), _CODES & 1, (_CODES & 3) == 0, *((_CODES >> b) & 1 for b in range(1, len(_FLAGS))),
], axis=1).astype(np.int64)


def _whole_ns(seconds: np.ndarray) -> np.ndarray:
    ns = seconds * NS
    return np.round(ns, out=ns)


def _ns_per_cell(cell: np.ndarray, done: np.ndarray, seconds: np.ndarray, span: int) -> np.ndarray:
    """Whole nanoseconds of the ``done`` frames' ``seconds``, summed per cell (exact in any order)."""
    ns = _whole_ns(seconds)
    ns[~done] = 0.0
    return np.bincount(cell, ns, minlength=span)


def _runs(index: np.ndarray) -> np.ndarray:
    """Where each run of equal consecutive entries of ``index`` starts."""
    return np.flatnonzero(np.concatenate([[True], index[1:] != index[:-1]])) if len(index) else index


def _fold(extreme: np.ufunc, target: np.ndarray, index: np.ndarray, values: np.ndarray,
          runs: np.ndarray) -> None:
    """``extreme.at(target, index, values)`` for np.minimum or np.maximum (exact in any order),
    reduced first over ``runs`` of equal ``index`` (``_runs``): a batch's frames come vehicle by
    vehicle."""
    if len(index):
        extreme.at(target, index[runs], extreme.reduceat(values, runs))


def histogram_bin(latency_s: np.ndarray) -> np.ndarray:
    """Index of the latency bucket of each latency (computed in place on one buffer)."""
    raw = np.maximum(latency_s, ZERO_BELOW_S)
    raw /= ZERO_BELOW_S
    np.log(raw, out=raw)
    raw /= _LOG_GAMMA
    np.floor(raw, out=raw)
    raw += 1
    raw[latency_s < ZERO_BELOW_S] = 0
    return np.clip(raw, 0, N_BINS - 1, out=raw).astype(np.int64)


def bin_edges(bins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper edge of latency buckets ``bins``, seconds (bucket 0: [0, 1 ns))."""
    bins = np.asarray(bins, dtype=float)
    return np.where(bins == 0, 0.0, ZERO_BELOW_S * _GAMMA ** (bins - 1)), ZERO_BELOW_S * _GAMMA ** bins


def bin_value(i: int) -> float:
    """The time bucket ``i`` reads as: within RELATIVE_ACCURACY of every time in it (0 for bucket 0)."""
    return 0.0 if i == 0 else float(2 * ZERO_BELOW_S * _GAMMA ** i / (_GAMMA + 1))


def histogram_quantile(counts: np.ndarray, q: float, low_s: float = 0.0, high_s: float = np.inf) -> float:
    """Quantile ``q`` in [0, 1] of a latency histogram: the value of the bucket holding the frame of
    rank ceil(q n) (at least 1), clamped to [``low_s``, ``high_s``], the exact minimum and maximum."""
    total = counts.sum()
    if total == 0:
        return float("nan")
    i = int(np.searchsorted(np.cumsum(counts), max(q * total, 1), side="left"))
    return float(min(max(bin_value(i), low_s), high_s))


class FrameLedger:
    """Accumulates frames into per-(vehicle, window) counters and latency histograms."""

    COUNTERS = ("generated", "processed", "dropped", "failed", "late", "detected", "throttled")
    SUMS = ("latency_sum_s", "busy_s")
    """Held as whole nanoseconds (integer-valued floats, exact below 2**53), so sums do not
    depend on the order frames arrive in batches; read back in seconds."""

    def __init__(self, layout: FleetLayout, window_s: float, duration_s: float, keep_frames: bool):
        self.layout = layout
        self.window_s = window_s
        self.duration_s = duration_s
        self.windows = max(1, int(np.ceil(duration_s / window_s)))
        cells = self.windows * layout.vehicles
        self._counts = np.zeros((len(self.COUNTERS), cells), dtype=np.int64)  # one row per counter
        self.counts = dict(zip(self.COUNTERS, self._counts, strict=True))
        self.sums = {name: np.zeros(cells) for name in self.SUMS}
        self.latency_max_s = np.zeros(cells)
        self.latency_min_s = np.full(cells, np.inf)
        self.histograms = np.zeros((len(layout.group_names), N_BINS), dtype=np.int64)
        self.leg_histograms: dict[str, np.ndarray] = {}  # leg -> (groups, bins), in first-seen order
        self.leg_sums_ns: dict[str, np.ndarray] = {}  # leg -> per group, whole nanoseconds
        self.leg_ranges: dict[str, np.ndarray] = {}  # leg -> (2, groups): exact min and max
        self.keep_frames = keep_frames
        self._frames: list[FrameBatch] = []

    def add(self, batch: FrameBatch) -> None:
        """Fold one batch of frames into the aggregates (counted over the span of cells it touches)."""
        if len(batch.vehicle) == 0:
            return
        v = batch.vehicle
        window = batch.capture_s // self.window_s
        np.minimum(window, self.windows - 1, out=window)
        cell = window.astype(np.int64)
        cell *= self.layout.vehicles
        cell += v
        lo = int(cell.min())
        cell -= lo
        span = int(cell.max()) + 1
        cells = slice(lo, lo + span)
        latency = batch.done_s - batch.capture_s
        done = batch.processed
        late = done & (latency > self.layout.deadline_s[v])
        flags = np.zeros(len(v), dtype=np.uint8)
        for bit, flag in enumerate((done, batch.failed, late, batch.detected, batch.throttled)):
            flags |= flag.view(np.uint8) << bit
        code = cell << len(_FLAGS)
        code |= flags
        per_code = np.bincount(code, minlength=span << len(_FLAGS)).reshape(span, -1)
        self._counts[:, cells] += (per_code @ _COUNTED).T
        self.sums["latency_sum_s"][cells] += _ns_per_cell(cell, done, latency, span)
        service = batch.done_s - batch.start_s if batch.busy_s is None else batch.busy_s
        self.sums["busy_s"][cells] += _ns_per_cell(cell, done, service, span)
        done_cell, done_latency = cell[done], latency[done]
        runs = _runs(done_cell)
        _fold(np.maximum, self.latency_max_s[cells], done_cell, done_latency, runs)
        _fold(np.minimum, self.latency_min_s[cells], done_cell, done_latency, runs)
        group = self.layout.group[v[done]]
        flat = group * N_BINS + histogram_bin(done_latency)
        self.histograms += np.bincount(flat, minlength=self.histograms.size).reshape(
            self.histograms.shape
        )
        self._add_legs(batch, group, service)
        if self.keep_frames:
            self._frames.append(batch)

    def _add_legs(self, batch: FrameBatch, group: np.ndarray, service: np.ndarray) -> None:
        """Fold the processed frames' latency by leg into per-group histograms and sums
        (``service``: each frame's time on the vehicle's accelerator). ``PathLeg``s are folded
        once per path, weighted by its processed frames: the same whole-nanosecond sums, bit for bit."""
        done = batch.processed
        legs = batch.legs if batch.legs is not None else {
            "queue": batch.start_s - batch.capture_s, "inference": service}
        shape = (len(self.layout.group_names), N_BINS)
        by_paths: dict[int, list[tuple[str, PathLeg]]] = {}
        for name, values in legs.items():
            hist = self.leg_histograms.setdefault(name, np.zeros(shape, dtype=np.int64))
            sums = self.leg_sums_ns.setdefault(name, np.zeros(shape[0]))
            ranges = self.leg_ranges.setdefault(name, np.array([[np.inf], [-np.inf]]).repeat(shape[0], 1))
            if isinstance(values, PathLeg):
                by_paths.setdefault(id(values.paths), []).append((name, values))
                continue
            value = values[done]
            hist += np.bincount(group * N_BINS + histogram_bin(value), minlength=hist.size).reshape(shape)
            sums += np.bincount(group, _whole_ns(value), minlength=shape[0])
            runs = _runs(group)
            _fold(np.minimum, ranges[0], group, value, runs)
            _fold(np.maximum, ranges[1], group, value, runs)
        for same_paths in by_paths.values():
            self._add_path_legs(same_paths, done)

    def _add_path_legs(self, legs: list[tuple[str, PathLeg]], done: np.ndarray) -> None:
        """Fold ``legs``, which share their frames' paths, together: one (leg, group) slot each."""
        groups, count = len(self.layout.group_names), len(legs)
        paths = legs[0][1].paths
        frames = np.bincount(paths.path[done], minlength=len(paths.vehicle))
        used = np.flatnonzero(frames)
        slot = (np.arange(count)[:, None] * groups + self.layout.group[paths.vehicle[used]]).ravel()
        weight = np.tile(frames[used], count)
        seconds = np.concatenate([leg.seconds[used] for _, leg in legs])
        hist = np.bincount(slot * N_BINS + histogram_bin(seconds), weight, minlength=count * groups * N_BINS)
        sums = np.bincount(slot, _whole_ns(seconds) * weight, minlength=count * groups)
        low, high = np.full(count * groups, np.inf), np.full(count * groups, -np.inf)
        runs = _runs(slot)
        _fold(np.minimum, low, slot, seconds, runs)
        _fold(np.maximum, high, slot, seconds, runs)
        for i, (name, _) in enumerate(legs):
            mine = slice(i * groups, (i + 1) * groups)
            self.leg_histograms[name] += hist.reshape(count, groups, N_BINS)[i].astype(np.int64)
            self.leg_sums_ns[name] += sums[mine]
            np.minimum(self.leg_ranges[name][0], low[mine], out=self.leg_ranges[name][0])
            np.maximum(self.leg_ranges[name][1], high[mine], out=self.leg_ranges[name][1])

    def latency_legs(self) -> pd.DataFrame:
        """One row per (group, leg) with processed frames: mean and percentiles of that leg's
        latency; leg 'total' is capture to detections."""
        rows = []
        legs = {name: (hist, self.leg_sums_ns[name], self.leg_ranges[name])
                for name, hist in self.leg_histograms.items()}
        legs["total"] = (self.histograms, self._total_sums_ns(), self._total_ranges())
        for g, group in enumerate(self.layout.group_names):
            for name, (hist, sums, (low, high)) in legs.items():
                frames = int(hist[g].sum())
                if frames:
                    rows.append((group, name, frames, sums[g] / NS / frames,
                                 *(histogram_quantile(hist[g], q, low[g], high[g])
                                   for q in (0.5, 0.95, 0.99))))
        return pd.DataFrame(rows, columns=["group", "leg", "frames", "mean_s", "p50_s", "p95_s", "p99_s"])

    def _total_ranges(self) -> np.ndarray:
        """(2, groups): each group's exact least and greatest capture-to-detection latency."""
        lay, groups = self.layout, len(self.layout.group_names)
        ranges = np.array([[np.inf], [-np.inf]]).repeat(groups, 1)
        np.minimum.at(ranges[0], lay.group, self.latency_min_s.reshape(self.windows, -1).min(axis=0))
        np.maximum.at(ranges[1], lay.group, self.latency_max_s.reshape(self.windows, -1).max(axis=0))
        return ranges

    def _total_sums_ns(self) -> np.ndarray:
        per_vehicle = self.sums["latency_sum_s"].reshape(self.windows, self.layout.vehicles).sum(axis=0)
        return np.bincount(self.layout.group, per_vehicle, minlength=len(self.layout.group_names))

    def total(self, name: str, vehicles: np.ndarray | None = None) -> float:
        """Sum of counter or sum ``name`` over all windows (optionally some vehicles)."""
        values = self.counts[name] if name in self.counts else self.sums[name]
        grid = values.reshape(self.windows, self.layout.vehicles)
        total = float(grid.sum() if vehicles is None else grid[:, vehicles].sum())
        return total if name in self.counts else total / NS

    def edge_energy_j(self, vehicles: np.ndarray | None = None) -> float:
        """Idle power over the whole run plus (active - idle) power while busy."""
        lay = self.layout
        idx = np.arange(lay.vehicles) if vehicles is None else vehicles
        busy = self.sums["busy_s"].reshape(self.windows, lay.vehicles)[:, idx].sum(axis=0) / NS
        extra = lay.active_power_w[idx] - lay.idle_power_w[idx]
        return float((lay.idle_power_w[idx] * self.duration_s + extra * busy).sum())

    def host_energy_j(self, vehicles: np.ndarray | None = None) -> float:
        """The host CPU's part of :meth:`edge_energy_j`: its power while busy (fallback layers,
        post-processing) over the busy time. The host's idle power is not modelled."""
        lay = self.layout
        if lay.host_power_w is None:
            return 0.0
        idx = np.arange(lay.vehicles) if vehicles is None else vehicles
        busy = self.sums["busy_s"].reshape(self.windows, lay.vehicles)[:, idx].sum(axis=0) / NS
        return float((lay.host_power_w[idx] * busy).sum())

    def vehicle_windows(self) -> pd.DataFrame:
        """One row per (vehicle, window) with frame counts, latency and energy."""
        lay = self.layout
        w = np.repeat(np.arange(self.windows), lay.vehicles)
        v = np.tile(np.arange(lay.vehicles), self.windows)
        t0 = w * self.window_s
        t1 = np.minimum(t0 + self.window_s, self.duration_s)
        processed = self.counts["processed"]
        busy = self.sums["busy_s"] / NS
        table = pd.DataFrame({
            "vehicle": np.array(lay.vehicle_names, dtype=object)[v],
            "group": np.array(lay.group_names, dtype=object)[lay.group[v]],
            "t_start_s": t0.astype(float),
            "t_end_s": t1.astype(float),
            **{f"frames_{name}": self.counts[name] for name in self.COUNTERS},
            "latency_mean_s": np.divide(self.sums["latency_sum_s"] / NS, processed,
                                        out=np.full(len(v), np.nan), where=processed > 0),
            "latency_max_s": np.where(processed > 0, self.latency_max_s, np.nan),
            "busy_s": busy,
            "energy_j": lay.idle_power_w[v] * (t1 - t0)
            + (lay.active_power_w[v] - lay.idle_power_w[v]) * busy,
        })
        return table.sort_values(["vehicle", "t_start_s"], kind="stable").reset_index(drop=True)

    def frames(self) -> pd.DataFrame | None:
        """One row per frame, when ``keep_frames`` was set; ordered by vehicle then capture."""
        if not self.keep_frames:
            return None
        lay = self.layout
        cols = {f: np.concatenate([getattr(b, f) for b in self._frames]) if self._frames
                else np.array([]) for f in FRAME_FIELDS}
        v = cols["vehicle"].astype(np.int64)
        table = pd.DataFrame({
            "vehicle": np.array(lay.vehicle_names, dtype=object)[v],
            "group": np.array(lay.group_names, dtype=object)[lay.group[v]],
            "camera": cols["camera"].astype(np.int64),
            "t_capture_s": cols["capture_s"],
            "t_start_s": cols["start_s"],
            "t_done_s": cols["done_s"],
            "latency_s": cols["done_s"] - cols["capture_s"],
            "dropped": ~cols["processed"].astype(bool) & ~cols["failed"].astype(bool),
            "failed": cols["failed"].astype(bool),
            "throttled": cols["throttled"].astype(bool),
            "model_version": cols["model_version"].astype(np.int64),
            "detected": cols["detected"].astype(bool),
        })
        return table.sort_values(["vehicle", "t_capture_s"], kind="stable").reset_index(drop=True)
