"""What the world looks like at a moment: light, weather, sensor state, novelty.

``Conditions`` holds one row per frame, so a whole batch of frames from many vehicles
at many times is rendered in one call. Each row has a label such as ``night_fog`` or
``day_clear_novel``; accuracy is reported per label.

>>> c = Conditions.uniform(3, daylight=0.05, weather="fog", intensity=0.8)
>>> c.labels()
['night_fog', 'night_fog', 'night_fog']
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

WEATHERS = ("clear", "rain", "fog", "snow")
TIMES_OF_DAY = ("day", "dusk", "night")
DAY_FROM = 0.6  # daylight at or above this is 'day'
NIGHT_BELOW = 0.15  # daylight below this is 'night'; in between is 'dusk'


@dataclass(frozen=True)
class Conditions:
    """Per-frame world state (arrays of equal length)."""

    daylight: np.ndarray  # float32 in [0, 1]: 1 full sun, 0 moonless night
    weather: np.ndarray  # int8 index into WEATHERS
    intensity: np.ndarray  # float32 in [0, 1]: strength of the weather
    novelty: np.ndarray  # float32 in [0, 1]: chance an object has an unseen colour/shape
    noise: np.ndarray  # float32 in [0, 1]: sensor noise level
    blur: np.ndarray  # float32 in [0, 1]: motion/defocus blur level

    def __post_init__(self) -> None:
        n = len(self.daylight)
        for f in fields(self):
            if len(getattr(self, f.name)) != n:
                raise ValueError(f"Conditions.{f.name} has {len(getattr(self, f.name))} rows, expected {n}")

    def __len__(self) -> int:
        return len(self.daylight)

    @classmethod
    def uniform(cls, n: int, *, daylight: float = 1.0, weather: str = "clear", intensity: float = 0.0,
                novelty: float = 0.0, noise: float = 0.0, blur: float = 0.0) -> Conditions:
        """``n`` frames under one condition."""
        if weather not in WEATHERS:
            raise ValueError(f"unknown weather {weather!r}; allowed: {', '.join(WEATHERS)}")
        full = lambda v, dt=np.float32: np.full(n, v, dtype=dt)  # noqa: E731
        return cls(full(daylight), full(WEATHERS.index(weather), np.int8), full(intensity), full(novelty),
                   full(noise), full(blur))

    @classmethod
    def concat(cls, parts: list[Conditions]) -> Conditions:
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))

    def take(self, rows: np.ndarray) -> Conditions:
        return Conditions(*(getattr(self, f.name)[rows] for f in fields(self)))

    def time_of_day(self) -> np.ndarray:
        """Index into TIMES_OF_DAY per frame."""
        return np.where(self.daylight >= DAY_FROM, 0, np.where(self.daylight >= NIGHT_BELOW, 1, 2))

    def weather_seen(self) -> np.ndarray:
        """Index into WEATHERS per frame; weather of zero intensity counts as clear."""
        return np.where(self.intensity > 0, self.weather, 0).astype(np.int64)

    def label_codes(self) -> np.ndarray:
        """Integer code per frame into ``all_labels()``."""
        return (self.time_of_day() * len(WEATHERS) + self.weather_seen()) * 2 + (self.novelty > 0)

    def labels(self) -> list[str]:
        names = all_labels()
        return [names[c] for c in self.label_codes()]


def all_labels() -> list[str]:
    """Every condition label, in code order."""
    return [f"{t}_{w}{suffix}" for t in TIMES_OF_DAY for w in WEATHERS for suffix in ("", "_novel")]
