"""Which access network serves a vehicle over time, with coverage gaps and handovers.

From a vehicle's leg timeline: a drive leg is served by its cell (none in a coverage
gap), a depot stop by the depot's WiFi. While driving in a cell, handovers happen as a
Poisson process in distance with the technology's mean spacing; entering a cell from
another cell, or from a gap, is a handover too. Each handover interrupts data for a
lognormal time with the technology's median and p90. Draws are counter-based per
vehicle, so a vehicle's attachments do not depend on the rest of the fleet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fleetsim.hardware.specs import Handover
from fleetsim.rng import counter_uniform, lognormal_quantile
from fleetsim.scenario.world import Drive, Route
from fleetsim.world.routes import LegTimeline

NONE = -1
"""Access index of 'no network' (a coverage gap or a handover in progress)."""
ATTACHED, GAP, HANDOVER = 0, 1, 2


@dataclass(frozen=True)
class Attachment:
    """Access network ``access[i]`` (or NONE) from ``start_s[i]`` until ``start_s[i + 1]``."""

    start_s: np.ndarray
    access: np.ndarray
    state: np.ndarray  # ATTACHED, GAP or HANDOVER
    handovers: int

    def index_at(self, t: float) -> int:
        """Index of the span in force at time ``t``."""
        return int(np.searchsorted(self.start_s, t, side="right")) - 1

    def access_at(self, t: float) -> int:
        return int(self.access[self.index_at(t)])

    def time_in(self, state: int, horizon_s: float) -> float:
        """Seconds spent in ``state`` before ``horizon_s``."""
        ends = np.minimum(np.r_[self.start_s[1:], horizon_s], horizon_s)
        spans = np.maximum(ends - np.minimum(self.start_s, horizon_s), 0.0)
        return float(spans[self.state == state].sum())


def interruption_s(spec: Handover, u: np.ndarray) -> np.ndarray:
    """Lognormal handover interruptions with the spec's median and p90 for uniforms ``u``."""
    return lognormal_quantile(spec.interruption_median.value, spec.interruption_p90.value, u)


def attachment(route: Route, legs: LegTimeline, cell_access: dict[str, int], depot_access: dict[str, int],
               handover: dict[int, Handover | None], key: np.uint64, horizon_s: float) -> Attachment:
    """The attachment timeline of one vehicle driving ``legs`` of ``route``.

    ``cell_access`` / ``depot_access`` map names to access indices; ``handover[access]`` is
    the technology's handover spec (None: no handovers, e.g. WiFi).
    """
    events: list[tuple[float, int, int]] = []  # (time, access, state)
    draw = 0
    previous = NONE
    ends = np.r_[legs.start_s[1:], horizon_s]
    for start, end, k in zip(legs.start_s, ends, legs.leg, strict=True):
        leg = route.legs[k]
        if isinstance(leg, Drive):
            access = NONE if leg.cell is None else cell_access[leg.cell]
        else:
            access = depot_access[leg.depot]
        spec = handover.get(access) if access != NONE else None
        if access == NONE:
            events.append((start, NONE, GAP))
        elif spec is None:
            events.append((start, access, ATTACHED))
        else:
            times = []
            if access != previous and start > 0:
                times.append(start)
            else:
                events.append((start, access, ATTACHED))
            rate = leg.speed / spec.spacing.value  # handovers per second while driving
            t = start
            while True:
                t += float(-np.log(counter_uniform(key, 2 * draw))) / rate
                draw += 1
                if t >= end:
                    break
                times.append(t)
            for t_ho in times:
                d = float(interruption_s(spec, counter_uniform(key, 2 * draw + 1)))
                draw += 1
                events.append((t_ho, NONE, HANDOVER))
                events.append((min(t_ho + d, end), access, ATTACHED))
        previous = access
    return _collapse(events, horizon_s)


def _collapse(events: list[tuple[float, int, int]], horizon_s: float) -> Attachment:
    """Sorted spans with repeats merged; a handover cut short by the next leg keeps its order."""
    start, access, state = [], [], []
    handovers = 0
    for t, a, s in events:
        if t >= horizon_s:
            break
        handovers += s == HANDOVER
        if start and t <= start[-1]:
            start[-1], access[-1], state[-1] = max(t, start[-1]), a, s
            if len(start) > 1 and (access[-2], state[-2]) == (a, s):
                start.pop(), access.pop(), state.pop()
            continue
        if start and (access[-1], state[-1]) == (a, s):
            continue
        start.append(t), access.append(a), state.append(s)
    return Attachment(start_s=np.array(start), access=np.array(access, dtype=np.int64),
                      state=np.array(state, dtype=np.int64), handovers=int(handovers))
