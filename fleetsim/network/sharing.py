"""Max-min fair rates of flows that each cross several shared resources.

Progressive filling: every unfrozen flow's rate rises together (each held at its own
cap); the first resource to saturate freezes the flows crossing it, its capacity is
spent, and the rest keep rising. Vectorised per round across resources, with as many
rounds as resources saturate.

>>> max_min_rates(np.array([10.0]), np.array([2.0, 8.0, 8.0]), np.zeros(3, int), np.arange(3))
array([2., 4., 4.])

A flow crossing two resources (the "parking lot"): links of 1 and 2; flow 0 uses both,
flow 1 the first, flow 2 the second.

>>> max_min_rates(np.array([1.0, 2.0]), np.full(3, np.inf), np.array([0, 0, 1, 1]),
...               np.array([0, 1, 0, 2]))
array([0.5, 0.5, 1.5])
"""

from __future__ import annotations

import numpy as np

_TIE = 1e-12
"""Relative tolerance within which resources saturate together."""


def max_min_rates(capacity: np.ndarray, flow_cap: np.ndarray, edge_resource: np.ndarray,
                  edge_flow: np.ndarray) -> np.ndarray:
    """Rates of flows with caps ``flow_cap`` (F,) over resources with ``capacity`` (R,).

    Edge e says flow ``edge_flow[e]`` crosses resource ``edge_resource[e]``. A flow that
    crosses no finite resource gets its cap; every flow must be bounded by something.
    """
    n_flows = len(flow_cap)
    rate = np.zeros(n_flows)
    frozen = np.zeros(n_flows, dtype=bool)
    left = np.asarray(capacity, dtype=float).copy()
    finite = np.isfinite(left)
    keep = finite[edge_resource]
    edge_resource, edge_flow = edge_resource[keep], edge_flow[keep]
    saturated = ~finite
    while not frozen.all():
        live = ~frozen[edge_flow] & ~saturated[edge_resource]
        res, flo = edge_resource[live], edge_flow[live]
        level, bottleneck = _saturation_levels(left, flow_cap, res, flo)
        free = ~frozen
        crossing = np.zeros(n_flows, dtype=bool)
        crossing[flo] = True
        unbounded = free & ~crossing
        if np.isinf(flow_cap[unbounded]).any():
            raise ValueError("a flow crosses no finite resource and has no cap")
        if not np.isfinite(level):
            take = free  # nothing saturates: every flow left runs at its cap
        else:
            at_bottleneck = np.zeros(n_flows, dtype=bool)
            at_bottleneck[flo[np.isin(res, bottleneck)]] = True
            take = free & (at_bottleneck | (flow_cap <= level) | unbounded)
            saturated[bottleneck] = True
        rate[take] = np.minimum(flow_cap[take], level)
        frozen |= take
        spent = take[edge_flow]
        np.subtract.at(left, edge_resource[spent], rate[edge_flow[spent]])
    return rate


def _saturation_levels(left: np.ndarray, flow_cap: np.ndarray, res: np.ndarray,
                       flo: np.ndarray) -> tuple[float, np.ndarray]:
    """The lowest common level at which some resource saturates, and those resources.

    For a resource with capacity C and unfrozen caps c_1 <= ... <= c_n, the level L solves
    sum(min(c_i, L)) = C: with the j smallest caps below L, L = (C - S_j) / (n - j), and the
    first j whose candidate does not exceed c_{j+1} is the one.
    """
    if len(res) == 0:
        return np.inf, np.zeros(0, dtype=np.int64)
    caps = flow_cap[flo]
    order = np.lexsort((caps, res))
    res_sorted, caps_sorted = res[order], caps[order]
    starts = np.flatnonzero(np.r_[True, res_sorted[1:] != res_sorted[:-1]])
    counts = np.diff(np.r_[starts, len(res_sorted)])
    group = np.repeat(np.arange(len(starts)), counts)
    position = np.arange(len(res_sorted)) - starts[group]
    finite_caps = np.where(np.isfinite(caps_sorted), caps_sorted, 0.0)
    before = np.cumsum(finite_caps) - finite_caps  # sum of caps before each position, overall
    before -= before[starts][group]  # ... within its resource
    capacity = left[res_sorted[starts]][group]
    candidate = (capacity - before) / (counts[group] - position)
    ok = candidate <= caps_sorted
    first = np.full(len(starts), len(res_sorted))
    np.minimum.at(first, group[ok], np.flatnonzero(ok))
    levels = np.full(len(starts), np.inf)
    hit = first < len(res_sorted)
    levels[hit] = np.maximum(candidate[first[hit]], 0.0)
    lowest = levels.min()
    if not np.isfinite(lowest):
        return np.inf, np.zeros(0, dtype=np.int64)
    chosen = levels <= lowest * (1 + _TIE) + 1e-300
    return float(lowest), res_sorted[starts[chosen]]
