"""FIFO accelerator queues with tail drop, vectorised over vehicles.

Each vehicle's accelerator serves one frame at a time in arrival order (Lindley's
recursion: start = max(arrival, previous departure)); at most ``capacity`` frames may
wait, and a frame that arrives to a full queue is dropped without using the
accelerator. Every start and departure is computed with the same floating-point
operations a one-event-per-frame simulation performs: rows that drop no frame by
relaxing the recursion over all their frames at once until it holds, the others by a
loop over frame positions, vectorised across vehicles.

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

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

RELAXATION_PASSES = 8
"""Passes of the relaxed recursion before a row still changing is served frame by frame."""
PLAIN_ROWS = 32
"""Up to this many rows are served frame by frame in plain Python floats (the same IEEE
doubles), one row after the other; more are served column by column in numpy, whose fixed
cost per column is then shared by enough rows."""


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
    """Serve frames ``arrivals`` (V, N; each row sorted, +inf where there is no frame) with
    ``service`` times.

    ``outages`` is (onset, back), each (V, K) with every row sorted and ending in +inf.
    Rows that drop no frame, meet no outage and have no gap before a frame take the relaxed
    recursion (``_relaxed``); the others run the recursion frame by frame. Updates ``state``
    in place.
    """
    vehicles, n = arrivals.shape
    out = Served(admitted=np.zeros((vehicles, n), dtype=bool), failed=np.zeros((vehicles, n), dtype=bool),
                 start=np.full((vehicles, n), np.nan), departure=np.full((vehicles, n), np.nan))
    if n == 0:
        return out
    valid = arrivals < np.inf
    history = _oldest_first(state)
    padded = ~np.any(valid[:, 1:] & ~valid[:, :-1], axis=1)  # no frame after a gap
    rows, start, departure = _relaxed(np.flatnonzero(padded), state.last_departure, history,
                                      arrivals, service)
    faulty = np.zeros(vehicles, dtype=bool)
    if outages is not None:
        onset, back = outages
        first = arrivals.min(axis=1)
        faulty = np.any(np.isfinite(onset) & (back > first[:, None]), axis=1)
        last = np.where(valid[rows], departure, -np.inf).max(axis=1)
        met = np.any((onset[rows] <= last[:, None]) & (back[rows] > first[rows, None]), axis=1)
        rows, start, departure = rows[~met], start[~met], departure[~met]
    if rows.size:
        _admit_all(state, rows, history[rows], valid[rows], start, departure, out)
    rest = np.ones(vehicles, dtype=bool)
    rest[rows] = False
    in_order = np.flatnonzero(rest & ~faulty)
    if 0 < len(in_order) <= PLAIN_ROWS:
        _serve_rows(state, in_order, history, arrivals, service, out)
    elif len(in_order):
        _serve_columns(state, in_order, history, arrivals, service, out)
    if (rest & faulty).any():
        failing = np.flatnonzero(rest & faulty)
        _serve_with_outages(state, failing, arrivals, service, (onset[failing], back[failing]), out)
    return out


def _oldest_first(state: QueueState) -> np.ndarray:
    """(V, capacity + 1): each vehicle's last admitted departures, oldest first."""
    width = state.recent.shape[1]
    order = (state.slot[:, None] + np.arange(width)) % width
    return np.take_along_axis(state.recent, order, axis=1)


def _relaxed(rows: np.ndarray, last: np.ndarray, history: np.ndarray, arrivals: np.ndarray,
             service: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Those of ``rows`` that admit every frame, with their frames' starts and departures.

    Lindley's recursion, relaxed: starting from every frame finding the accelerator idle,
    each pass recomputes every frame's start from its predecessor's departure at once, and a
    row is done when a pass changes nothing: its departures then satisfy the recursion
    exactly, so they are the recursion's own floating-point results. Each pass's departures
    are a lower bound of the row's (if it admitted every frame), so a row where one of them
    already fills the queue at a later arrival drops a frame and is left to the frame-by-frame
    recursion, as is a row still changing after ``RELAXATION_PASSES`` passes.
    """
    width, n = history.shape[1], arrivals.shape[1]
    if len(rows) < len(arrivals):
        last, history, arrivals, service = last[rows], history[rows], arrivals[rows], service[rows]
    departure = arrivals + service
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for _ in range(RELAXATION_PASSES):
        start = np.maximum(arrivals, np.concatenate([last[:, None], departure[:, :-1]], axis=1))
        again = start + service
        # a frame is dropped when the departure `width` admissions back is after it
        behind = np.concatenate([history, again[:, :max(n - width, 0)]], axis=1)[:, :n]
        full = np.any(behind > arrivals, axis=1)
        settled = ~full & np.all(again == departure, axis=1)
        found.append((rows[settled], start[settled], again[settled]))
        going = ~full & ~settled
        if not going.any():
            break
        rows, last, history = rows[going], last[going], history[going]
        arrivals, service, departure = arrivals[going], service[going], again[going]
    rows, start, departure = (np.concatenate(parts) for parts in zip(*found, strict=True))
    order = np.argsort(rows)
    return rows[order], start[order], departure[order]


def _admit_all(state, rows, history, valid, start, departure, out: Served) -> None:
    """Record ``rows``, which admit every frame, and carry their last departures over."""
    out.admitted[rows] = valid
    out.start[rows] = np.where(valid, start, np.nan)
    out.departure[rows] = np.where(valid, departure, np.nan)
    # keep the last `width` departures: the history, then this stretch's (a prefix of each row)
    width = history.shape[1]
    counts = valid.sum(axis=1)
    merged = np.take_along_axis(np.concatenate([history, departure], axis=1),
                                counts[:, None] + np.arange(width), axis=1)
    state.recent[rows] = merged
    state.slot[rows] = 0
    state.last_departure[rows] = np.where(counts > 0, merged[:, -1], state.last_departure[rows])


def _serve_rows(state, rows, history, arrivals, service, out: Served) -> None:
    """Lindley's recursion with tail drop, frame by frame, one row after the other (no outages):
    a frame is admitted when the departure ``capacity + 1`` admissions back is not after it."""
    width = history.shape[1]
    for r in rows.tolist():
        recent = deque(history[r].tolist(), maxlen=width)  # the last admitted departures
        last = state.last_departure[r].item()
        starts, ends = [], []
        for a, s in zip(arrivals[r].tolist(), service[r].tolist(), strict=True):
            if recent[0] <= a < math.inf:
                b = a if a > last else last
                last = b + s
                recent.append(last)
                starts.append(b)
                ends.append(last)
            else:
                starts.append(math.nan)
                ends.append(math.nan)
        out.start[r], out.departure[r] = starts, ends
        out.admitted[r] = ~np.isnan(out.start[r])
        state.recent[r] = recent
        state.last_departure[r] = last
    state.slot[rows] = 0


def _serve_columns(state, rows, history, arrivals, service, out: Served) -> None:
    """Lindley's recursion with tail drop, frame position by frame position across ``rows``
    (no outages). A row's admitted departures follow its history in one buffer; a frame is
    admitted when the departure ``capacity + 1`` admissions back is not after it (never where
    there is no frame: NaN there)."""
    width, n = history.shape[1], arrivals.shape[1]
    span = width + n
    buffer = np.empty((len(rows), span))
    buffer[:, :width] = history[rows]
    flat = buffer.ravel()
    written = np.arange(len(rows)) * span + width  # where each row's next departure goes
    last = state.last_departure[rows].copy()
    a_rows = arrivals[rows]
    a_cols, s_cols = np.where(a_rows < np.inf, a_rows, np.nan).T.copy(), service[rows].T.copy()
    ok, start, end = np.empty((n, len(rows)), dtype=bool), np.empty((n, len(rows))), np.empty((n, len(rows)))
    for j in range(n):
        np.less_equal(flat.take(written - width), a_cols[j], out=ok[j])
        np.maximum(a_cols[j], last, out=start[j])
        np.add(start[j], s_cols[j], out=end[j])
        flat[written] = end[j]  # kept only if admitted: the next admission writes there otherwise
        np.copyto(last, end[j], where=ok[j])
        written += ok[j]
    admitted = ok.T
    out.admitted[rows] = admitted
    out.start[rows] = np.where(admitted, start.T, np.nan)
    out.departure[rows] = np.where(admitted, end.T, np.nan)
    counts = admitted.sum(axis=1)
    state.recent[rows] = np.take_along_axis(buffer, counts[:, None] + np.arange(width), axis=1)
    state.slot[rows] = 0
    last = buffer[np.arange(len(rows)), counts + width - 1]
    state.last_departure[rows] = np.where(counts > 0, last, state.last_departure[rows])


def _serve_with_outages(state, rows, arrivals, service, outages, out: Served) -> None:
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
    for j in range(a_rows.shape[1]):
        a = a_rows[:, j]
        valid = a < np.inf
        if not valid.any():
            continue
        passed = np.minimum((onset <= a[:, None]).sum(axis=1), onset.shape[1] - 1)
        down = valid & (passed > 0) & (a < back[local, np.maximum(passed - 1, 0)])
        next_onset = onset[local, passed]
        ok = valid & ~down & (recent[local, slot] <= a)
        b = np.maximum(a, last)
        e = b + s_rows[:, j]
        cut = ok & (e > next_onset)  # still queued or in service when the accelerator fails
        e = np.where(cut, next_onset, e)
        done = ok & ~cut
        lost[:, j] = down | cut
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
