"""The vectorised accelerator queue against a plain reference and queueing theory."""

from __future__ import annotations

from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetsim.edge import queueing
from fleetsim.edge.queueing import QueueState, serve


def reference_fifo(arrivals: list[float], service: float | list[float], capacity: int,
                   last: float = -np.inf, history: list[float] | None = None):
    """Textbook Lindley recursion with tail drop, one frame at a time (+inf: no frame)."""
    departures = list(history or [])
    out = []
    services = service if isinstance(service, list) else [service] * len(arrivals)
    for a, s in zip(arrivals, services, strict=True):
        in_system = sum(d > a for d in departures)
        if a == np.inf or in_system > capacity:
            out.append(None)
            continue
        start = max(a, last)
        last = start + s
        departures.append(last)
        out.append((start, last))
    return out


@settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(st.floats(0.0005, 0.2), min_size=1, max_size=60),
    service=st.floats(0.001, 0.15),
    capacity=st.integers(0, 3),
    split=st.integers(0, 60),
)
def test_serve_matches_one_frame_at_a_time_reference(gaps, service, capacity, split):
    arrivals = np.cumsum(gaps)
    expected = reference_fifo(arrivals.tolist(), service, capacity)
    state = QueueState.empty(1, capacity)
    got = []
    for part in (arrivals[:split], arrivals[split:]):  # two stretches: state carries over
        out = serve(state, part[None, :], np.full((1, len(part)), service))
        for j in range(len(part)):
            got.append((out.start[0, j], out.departure[0, j]) if out.admitted[0, j] else None)
    assert got == expected  # exact, including drops


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(st.tuples(st.lists(st.floats(0.0, 0.08), min_size=1, max_size=40),
                            st.lists(st.floats(0.001, 0.12), min_size=40, max_size=40),
                            st.lists(st.booleans(), min_size=40, max_size=40)), min_size=1, max_size=5),
    capacity=st.integers(0, 3),
    split=st.integers(0, 40),
)
def test_many_rows_with_gaps_match_the_reference_row_by_row(rows, capacity, split):
    """Rows idle, in short busy periods (relaxed) or dropping frames (frame by frame: row by row,
    and column by column as for many rows) in one call, each frame its own service time, some
    rows with no frame at some positions (+inf, as the offload send queue gives its unsent frames)."""
    for plain_rows in (queueing.PLAIN_ROWS, 0):
        with patch.object(queueing, "PLAIN_ROWS", plain_rows):
            _many_rows_match_the_reference(rows, capacity, split)


def _many_rows_match_the_reference(rows, capacity, split):
    n = max(len(gaps) for gaps, _, _ in rows)
    arrivals = np.full((len(rows), n), np.inf)
    for r, (gaps, _, sent) in enumerate(rows):
        times = np.cumsum(gaps)
        arrivals[r, :len(gaps)] = np.where(np.array(sent[:len(gaps)]) | (r % 2 == 0), times, np.inf)
    service = np.array([s[:n] for _, s, _ in rows])
    state = QueueState.empty(len(rows), capacity)
    got = [[] for _ in rows]
    for cols in (slice(0, split), slice(split, n)):  # two stretches: state carries over
        out = serve(state, arrivals[:, cols], service[:, cols])
        for r in range(len(rows)):
            got[r] += [(out.start[r, j], out.departure[r, j]) if out.admitted[r, j] else None
                       for j in range(out.admitted.shape[1])]
    for r in range(len(rows)):
        assert got[r] == reference_fifo(arrivals[r].tolist(), service[r].tolist(), capacity)


def test_idle_rows_and_busy_rows_in_one_call_are_exact():
    arrivals = np.array([[0.0, 1.0, 2.0, np.inf], [0.0, 0.1, 0.2, 0.3]])
    state = QueueState.empty(2, capacity=1)
    out = serve(state, arrivals, np.full(arrivals.shape, 0.25))
    assert out.admitted.tolist() == [[True, True, True, False], [True, True, False, True]]
    assert out.departure[0, :3].tolist() == [0.25, 1.25, 2.25]
    assert out.departure[1, [0, 1, 3]].tolist() == [0.25, 0.5, 0.75]
    assert state.last_departure.tolist() == [2.25, 0.75]


def test_conservation_every_frame_is_processed_or_dropped():
    rng = np.random.default_rng(0)
    arrivals = np.sort(rng.uniform(0, 10, size=(20, 500)), axis=1)
    out = serve(QueueState.empty(20, 2), arrivals, np.full(arrivals.shape, 0.03))
    dropped = ~out.admitted
    assert out.admitted.sum() + dropped.sum() == arrivals.size
    assert dropped.sum() > 0  # saturated: rho = 1.5
    assert np.all(np.isnan(out.departure[dropped]))


@pytest.mark.parametrize("rho", [0.3, 0.6, 0.8])
def test_mean_wait_matches_md1_formula(rho):
    """Poisson arrivals, deterministic service, no drops: Wq = rho * S / (2 (1 - rho))."""
    service = 0.01
    rate = rho / service
    rng = np.random.default_rng(1)
    vehicles, frames = 200, 4000
    arrivals = np.cumsum(rng.exponential(1 / rate, size=(vehicles, frames)), axis=1)
    out = serve(QueueState.empty(vehicles, capacity=10_000), arrivals,
                np.full(arrivals.shape, service))
    assert out.admitted.all()
    wait = (out.start - arrivals)[:, frames // 10:]  # skip the warm-up
    expected = rho * service / (2 * (1 - rho))
    assert wait.mean() == pytest.approx(expected, rel=0.03)
