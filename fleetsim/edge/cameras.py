"""Frame arrival times of a bank of cameras, vectorised over cameras.

Each camera's k-th inter-frame gap is a pure function of (camera key, k): the first
gap is a random phase in [0, 1/fps), later gaps are 1/fps ('periodic') or
exponential with mean 1/fps ('poisson'). Arrival times are running sums of gaps,
computed left to right exactly as a SimPy process that waits ``gap`` after ``gap``
would compute them, so both paths see bit-identical times.
"""

from __future__ import annotations

import math

import numpy as np

from fleetsim.rng import counter_uniform


class CameraBank:
    """Arrival state of many cameras sharing one frame rate and arrival process."""

    def __init__(self, keys: np.ndarray, fps: float, arrivals: str):
        self.keys = np.asarray(keys, dtype=np.uint64)
        self.period = 1.0 / fps
        self.poisson = arrivals == "poisson"
        self.last = np.zeros(len(self.keys))  # time of the last consumed arrival
        self.count = np.zeros(len(self.keys), dtype=np.int64)  # arrivals consumed so far

    def __len__(self) -> int:
        return len(self.keys)

    def gaps(self, rows: np.ndarray, counters: np.ndarray) -> np.ndarray:
        """Gap before arrival number ``counters`` of cameras ``rows`` (same shapes)."""
        if self.poisson:
            u = counter_uniform(self.keys[rows], counters)
            return np.where(counters == 0, u * self.period, -np.log(u) * self.period)
        gaps = np.full(counters.shape, self.period)
        first = counters == 0  # periodic: only the phase is drawn
        if first.any():
            gaps[first] = counter_uniform(self.keys[rows[first]], 0) * self.period
        return gaps

    def gap(self, row: int, k: int) -> float:
        """Scalar form of ``gaps`` for the one-event-per-frame reference path."""
        return float(self.gaps(np.array([row]), np.array([k]))[0])

    def take_until(self, t_end: float) -> tuple[np.ndarray, np.ndarray]:
        """Consume every arrival before ``t_end``.

        Returns ``(times, counters)`` of shape (cameras, K), padded with +inf / -1
        where a camera has fewer than K arrivals in the span (K: the most any camera has).
        """
        n = len(self.keys)
        before = self.count.copy()
        rows = np.arange(n)
        blocks_t, blocks_k = [], []
        active = self.last < t_end
        spread = 1.5 if self.poisson else 1.0  # room for a Poisson stretch's extra arrivals
        width = max(4, math.ceil((t_end - self.last.min(initial=t_end)) / self.period * spread) + 4)
        while active.any():
            counters = self.count[:, None] + np.arange(width)[None, :]
            gaps = self.gaps(np.broadcast_to(rows[:, None], counters.shape), counters)
            times = np.cumsum(np.concatenate([self.last[:, None], gaps], axis=1), axis=1)[:, 1:]
            inside = (times < t_end) & active[:, None]
            taken = inside.sum(axis=1)
            blocks_t.append(np.where(inside, times, np.inf))
            blocks_k.append(np.where(inside, counters, -1))
            has = taken > 0
            self.last[has] = times[has, taken[has] - 1]
            self.count += taken
            active = active & (taken == width)  # a full block may have more to come
        if not blocks_t:
            return np.full((n, 0), np.inf), np.full((n, 0), -1, dtype=np.int64)
        used = int((self.count - before).max(initial=0))  # each camera's arrivals are a prefix of its row
        return np.concatenate(blocks_t, axis=1)[:, :used], np.concatenate(blocks_k, axis=1)[:, :used]
