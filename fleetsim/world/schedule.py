"""Conditions over simulated time: the day-night cycle, weather spells, novelty onset.

>>> from fleetsim.scenario.world import World
>>> world = World.model_validate({"conditions": {"diurnal": {"start_clock": "19 h"},
...                               "weather": [{"weather": "fog", "start": "1 h", "duration": "2 h"}]}})
>>> ConditionSchedule(world).at(np.array([0.0, 7000.0]), np.zeros(2, int)).labels()
['day_clear', 'night_fog']
"""

from __future__ import annotations

import numpy as np

from fleetsim.scenario.world import World
from fleetsim.world.conditions import WEATHERS, Conditions

DAY_S = 24 * 3600.0
TWILIGHT = 0.1  # sun elevation (as sin) below the horizon where twilight ends


def daylight(clock_s: np.ndarray, sunrise_s: float, sunset_s: float) -> np.ndarray:
    """Daylight in [0, 1] at clock times (seconds since midnight): a smooth sun elevation
    proxy, positive between sunrise and sunset, with twilight either side."""
    clock = np.mod(clock_s, DAY_S)
    day_len = sunset_s - sunrise_s
    up = (clock >= sunrise_s) & (clock < sunset_s)
    elevation = np.where(up, np.sin(np.pi * (clock - sunrise_s) / day_len),
                         -np.sin(np.pi * np.mod(clock - sunset_s, DAY_S) / (DAY_S - day_len)))
    return np.clip((elevation + TWILIGHT) / (3 * TWILIGHT), 0.0, 1.0)


class ConditionSchedule:
    """Evaluates the world's conditions at any times, in any regions (vectorised)."""

    def __init__(self, world: World):
        self.world = world
        self.regions = list(world.regions)

    def region_index(self, name: str) -> int:
        return self.regions.index(name)

    def at(self, times_s: np.ndarray, region: np.ndarray) -> Conditions:
        """Conditions at ``times_s`` (simulation seconds) in regions ``region`` (indices)."""
        spec = self.world.conditions
        times_s = np.asarray(times_s, dtype=np.float64)
        n = len(times_s)
        if spec.diurnal is None:
            light = np.ones(n)
        else:
            d = spec.diurnal
            light = daylight(d.start_clock + times_s, d.sunrise, d.sunset)
        weather, intensity = np.zeros(n, np.int8), np.zeros(n, np.float32)
        for event in spec.weather:
            during = (times_s >= event.start) & (times_s < event.start + event.duration)
            on = during & self._covers(event, region)
            weather[on] = WEATHERS.index(event.weather)
            intensity[on] = event.intensity
        novelty = np.zeros(n, np.float32)
        if spec.novelty is not None:
            on = (times_s >= spec.novelty.onset) & self._covers(spec.novelty, region)
            novelty[on] = spec.novelty.level
        return Conditions(light.astype(np.float32), weather, intensity, novelty,
                          np.full(n, spec.noise, np.float32), np.full(n, spec.blur, np.float32))

    def _covers(self, event, region: np.ndarray) -> np.ndarray:
        if event.regions is None:
            return np.ones(len(region), dtype=bool)
        return np.isin(region, [self.regions.index(r) for r in event.regions])
