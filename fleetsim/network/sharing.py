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
    saturated = ~np.isfinite(left)
    keep = ~saturated[edge_resource]
    order = np.lexsort((flow_cap[edge_flow[keep]], edge_resource[keep]))  # by resource, then cap
    res_sorted, flo_sorted = edge_resource[keep][order], edge_flow[keep][order]
    crossing = np.zeros(n_flows, dtype=bool)
    crossing[flo_sorted] = True
    if np.isinf(flow_cap[~crossing]).any():
        raise ValueError("a flow crosses no finite resource and has no cap")
    while not frozen.all():
        live = ~frozen[flo_sorted] & ~saturated[res_sorted]
        res, flo = res_sorted[live], flo_sorted[live]  # still sorted by resource, then cap
        level, bottleneck = _saturation_levels(left, flow_cap[flo], res)
        free = ~frozen
        if not np.isfinite(level):
            take = free  # nothing saturates: every flow left runs at its cap
        else:
            hit = np.zeros(len(left), dtype=bool)
            hit[bottleneck] = True
            at_bottleneck = np.zeros(n_flows, dtype=bool)
            at_bottleneck[flo[hit[res]]] = True
            take = free & (at_bottleneck | (flow_cap <= level) | ~crossing)
            saturated[bottleneck] = True
        rate[take] = np.minimum(flow_cap[take], level)
        frozen |= take
        spent = take[flo_sorted]
        left -= np.bincount(res_sorted[spent], weights=rate[flo_sorted[spent]], minlength=len(left))
    return rate


def _saturation_levels(left: np.ndarray, caps: np.ndarray, res: np.ndarray) -> tuple[float, np.ndarray]:
    """The lowest common level at which some resource saturates, and those resources.

    ``res`` is sorted, and ``caps`` ascending within each resource. For a resource with
    capacity C and caps c_1 <= ... <= c_n, the level L solves sum(min(c_i, L)) = C: with the
    j smallest caps below L, L = (C - S_j) / (n - j), and the first j whose candidate does
    not exceed c_{j+1} is the one.
    """
    if len(res) == 0:
        return np.inf, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate([[True], res[1:] != res[:-1]]))
    counts = np.diff(np.append(starts, len(res)))
    group = np.repeat(np.arange(len(starts)), counts)
    position = np.arange(len(res)) - starts[group]
    finite_caps = np.where(np.isfinite(caps), caps, 0.0)
    before = np.cumsum(finite_caps) - finite_caps  # sum of caps before each position, overall
    before -= before[starts][group]  # ... within its resource
    candidate = (left[res[starts]][group] - before) / (counts[group] - position)
    ok = np.flatnonzero(candidate <= caps)
    first = np.full(len(starts), len(res))
    np.minimum.at(first, group[ok], ok)
    hit = first < len(res)
    if not hit.any():
        return np.inf, np.zeros(0, dtype=np.int64)
    levels = np.full(len(starts), np.inf)
    levels[hit] = np.maximum(candidate[first[hit]], 0.0)
    lowest = levels.min()
    return float(lowest), res[starts[levels <= lowest * (1 + _TIE) + 1e-300]]
