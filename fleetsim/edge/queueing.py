"""FIFO accelerator queues with tail drop, vectorised over vehicles.

Each vehicle's accelerator serves one frame at a time in arrival order (Lindley's
recursion: start = max(arrival, previous departure)); at most ``capacity`` frames may
wait, and a frame that arrives to a full queue is dropped without using the
accelerator. The loop runs over frame positions and is vectorised across vehicles,
with the same floating-point operations a one-event-per-frame simulation performs.

Optional outages (an accelerator failed from onset to back): a frame arriving while the
accelerator is down fails; a frame that would still be queued or in service at the next
onset fails too and leaves the queue at the onset, which empties the queue.

The many-server counterpart, one queue at a time, is ``fleetsim.queues.ServerPool``.

>>> state = QueueState.empty(vehicles=1, capacity=0)
>>> out = serve(state, np.array([[0.0, 0.5, 1.0]]), np.full((1, 3), 0.6))
>>> out.admitted.tolist(), float(out.departure[0, 0])
([[True, False, True]], 0.6)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class QueueState:
    """Per-vehicle queue state carried from one stretch of frames to the next."""

    last_departure: np.ndarray  # (V,) departure time of the last admitted frame
    recent: np.ndarray  # (V, capacity + 1) departures of the last capacity+1 admitted frames
    slot: np.ndarray  # (V,) index of the oldest entry in ``recent`` (a ring buffer)

    @classmethod
    def empty(cls, vehicles: int, capacity: int) -> QueueState:
        return cls(
            last_departure=np.full(vehicles, -np.inf),
            recent=np.full((vehicles, capacity + 1), -np.inf),
            slot=np.zeros(vehicles, dtype=np.int64),
        )


@dataclass
class Served:
    """Fate of each frame of a stretch: served, dropped or failed, and when it ran."""

    admitted: np.ndarray  # (V, N) bool: served to completion; False for drops, failures, padding
    failed: np.ndarray  # (V, N) bool: lost to an outage
    start: np.ndarray  # (V, N) service start, NaN where not admitted
    departure: np.ndarray  # (V, N) service end, NaN where not admitted


def serve(state: QueueState, arrivals: np.ndarray, service: np.ndarray,
          outages: tuple[np.ndarray, np.ndarray] | None = None) -> Served:
    """Serve frames ``arrivals`` (V, N; each row sorted, +inf padded) with ``service`` times.

    ``outages`` is (onset, back), each (V, K) with every row sorted and ending in +inf.
    Rows whose accelerator is idle at every arrival, with no outage in their span, take a
    closed form (start = arrival), which is the recursion's exact result there; the others
    run the recursion. Updates ``state`` in place.
    """
    vehicles, n = arrivals.shape
    if outages is None:
        outages = (np.full((vehicles, 1), np.inf), np.full((vehicles, 1), np.inf))
    admitted = np.zeros((vehicles, n), dtype=bool)
    failed = np.zeros((vehicles, n), dtype=bool)
    start = np.full((vehicles, n), np.nan)
    departure = np.full((vehicles, n), np.nan)
    if n == 0:
        return Served(admitted=admitted, failed=failed, start=start, departure=departure)
    valid = arrivals < np.inf
    ends = arrivals + service
    previous = np.concatenate([state.last_departure[:, None], ends[:, :-1]], axis=1)
    idle = np.all((arrivals >= previous) | ~valid, axis=1)
    onset, back = outages
    first = np.where(valid.any(axis=1), arrivals[:, 0], np.inf)
    last_end = np.where(valid, ends, -np.inf).max(axis=1)
    touched = np.any((onset <= last_end[:, None]) & (back > first[:, None]), axis=1)
    idle &= ~touched
    if idle.any():
        _serve_idle(state, idle, arrivals, ends, valid, admitted, start, departure)
    busy = np.flatnonzero(~idle)
    if busy.size:
        _serve_recursion(state, busy, arrivals, service, (onset[busy], back[busy]),
                         Served(admitted=admitted, failed=failed, start=start, departure=departure))
    return Served(admitted=admitted, failed=failed, start=start, departure=departure)


def _serve_idle(state, rows, arrivals, ends, valid, admitted, start, departure) -> None:
    """Rows where every frame finds the accelerator idle: no waiting, no drops."""
    ok = valid[rows]
    admitted[rows] = ok
    start[rows] = np.where(ok, arrivals[rows], np.nan)
    departure[rows] = np.where(ok, ends[rows], np.nan)
    width = state.recent.shape[1]
    order = (state.slot[rows, None] + np.arange(width)) % width
    history = np.take_along_axis(state.recent[rows], order, axis=1)  # oldest first
    # keep the last `width` admitted departures: the history, then this stretch's (a prefix of
    # each row, later than every earlier departure), so the newest `width` end at position count
    counts = ok.sum(axis=1)
    merged = np.concatenate([history, ends[rows]], axis=1)
    merged = np.take_along_axis(merged, counts[:, None] + np.arange(width), axis=1)
    state.recent[rows] = merged
    state.slot[rows] = 0
    last = np.where(counts > 0, merged[:, -1], state.last_departure[rows])
    state.last_departure[rows] = last


def _serve_recursion(state, rows, arrivals, service, outages, out: Served) -> None:
    """Lindley's recursion with tail drop and outages, column by column, across ``rows``."""
    width = state.recent.shape[1]
    last = state.last_departure[rows]
    recent = state.recent[rows]
    slot = state.slot[rows]
    local = np.arange(len(rows))
    onset, back = outages
    a_rows, s_rows = arrivals[rows], service[rows]
    adm = np.zeros(a_rows.shape, dtype=bool)
    lost = np.zeros(a_rows.shape, dtype=bool)
    beg = np.full(a_rows.shape, np.nan)
    end = np.full(a_rows.shape, np.nan)
    faulty = bool(np.isfinite(onset).any())
    for j in range(a_rows.shape[1]):
        a = a_rows[:, j]
        if faulty:
            valid = a < np.inf
            if not valid.any():
                continue
            passed = np.minimum((onset <= a[:, None]).sum(axis=1), onset.shape[1] - 1)
            down = valid & (passed > 0) & (a < back[local, np.maximum(passed - 1, 0)])
            next_onset = onset[local, passed]
            ok = valid & ~down & (recent[local, slot] <= a)
        else:
            ok = (a < np.inf) & (recent[local, slot] <= a)
            if not ok.any():
                continue
        b = np.maximum(a, last)
        e = b + s_rows[:, j]
        if faulty:
            cut = ok & (e > next_onset)  # still queued or in service when the accelerator fails
            e = np.where(cut, next_onset, e)
            done = ok & ~cut
            lost[:, j] = down | cut
        else:
            done = ok
        adm[:, j] = done
        beg[done, j] = b[done]
        end[done, j] = e[done]
        last = np.where(ok, e, last)
        recent[local[ok], slot[ok]] = e[ok]
        slot = np.where(ok, (slot + 1) % width, slot)
    out.admitted[rows], out.failed[rows], out.start[rows], out.departure[rows] = adm, lost, beg, end
    state.last_departure[rows] = last
    state.recent[rows] = recent
    state.slot[rows] = slot
