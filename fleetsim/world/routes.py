"""Where a vehicle is over time: its route's legs laid end to end, looped.

A route is a cycle of legs (drives of a length at a speed, and depot stops of a
duration). Each vehicle starts at its own point of the cycle (a fraction of the cycle
time, drawn from the run's seed) and drives the loop until the run ends.

>>> from fleetsim.scenario.world import Route
>>> route = Route.model_validate({"name": "r", "legs": [
...     {"length": "1 km", "speed": "36 km/h", "cell": "a"}, {"depot": "d", "duration": "50 s"}]})
>>> legs = leg_timeline(route, start_fraction=0.5, horizon_s=200.0)
>>> legs.start_s.tolist(), legs.leg.tolist()
([0.0, 25.0, 75.0, 175.0], [0, 1, 0, 1])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fleetsim.scenario.world import Drive, Route


def leg_durations(route: Route) -> np.ndarray:
    """Seconds each leg of ``route`` takes."""
    return np.array([leg.length / leg.speed if isinstance(leg, Drive) else leg.duration
                     for leg in route.legs])


@dataclass(frozen=True)
class LegTimeline:
    """Leg ``leg[i]`` of the route from ``start_s[i]`` until ``start_s[i + 1]`` (or the horizon);
    the first span starts part-way into its leg."""

    start_s: np.ndarray
    leg: np.ndarray


def leg_timeline(route: Route, start_fraction: float, horizon_s: float) -> LegTimeline:
    """The legs one vehicle drives from time 0 to ``horizon_s``, starting at ``start_fraction``
    of the cycle."""
    durations = leg_durations(route)
    ends = np.cumsum(durations)
    cycle = float(ends[-1])
    offset = start_fraction * cycle
    first = int(np.searchsorted(ends, offset, side="right"))
    first = min(first, len(durations) - 1)
    entered = offset - (ends[first] - durations[first])
    starts, legs = [0.0], [first]
    t = durations[first] - entered
    k = first
    while t < horizon_s:
        k = (k + 1) % len(durations)
        starts.append(t)
        legs.append(k)
        t += durations[k]
    return LegTimeline(start_s=np.array(starts), leg=np.array(legs, dtype=np.int64))
