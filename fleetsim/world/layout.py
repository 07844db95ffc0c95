"""Static pictures the renderer reuses: background layouts and weather/noise patterns.

A layout is a map of background material codes (sky, buildings, road and verge by
distance band, lane paint) for one road direction; patterns are rain streaks,
snowflakes and sensor-noise bits. They are made once per frame size from a fixed seed
(they are part of the world, not of a run) and picked per frame by the scene's draws.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from fleetsim.world.appearance import BAND_EDGES_M, BUILDING, LANE, ROAD, SKY, VERGE
from fleetsim.world.scene import CAMERA_HEIGHT_M, focal_px, horizon_row, layout_vanishing_x

LAYOUTS = 8
OVERLAYS = 8
ROAD_HALF_WIDTH_M = 3.5
_WORLD_SEED = 20261123


@lru_cache(maxsize=8)
def background_layouts(width: int, height: int) -> np.ndarray:
    """(LAYOUTS, H, W) intp material codes, read-only."""
    rng = np.random.default_rng(_WORLD_SEED)
    f, yh = focal_px(width), horizon_row(height)
    y = np.arange(height)[:, None] + 0.5
    x = np.arange(width)[None, :] + 0.5
    maps = []
    for vx in layout_vanishing_x(LAYOUTS, width):
        below = np.maximum(y - yh, 1e-6)
        distance = f * CAMERA_HEIGHT_M / below
        lateral = (x - vx) * CAMERA_HEIGHT_M / below
        band = np.searchsorted(-BAND_EDGES_M, -distance, side="right")  # 0 far .. 4 near
        code = np.where(np.abs(lateral) <= ROAD_HALF_WIDTH_M, ROAD + band, VERGE + band)
        dashes = (np.abs(lateral) < 0.08) & (np.mod(distance, 6.0) < 3.0)
        edges = np.abs(np.abs(lateral) - ROAD_HALF_WIDTH_M + 0.15) < 0.1
        code = np.where(dashes | edges, LANE + np.minimum(band // 2, 2), code)
        sky = np.where(y < yh * 0.55, SKY, SKY + 1)
        skyline = _skyline(rng, width, height, vx)
        code = np.where(y < yh, np.where(y >= yh - skyline, BUILDING, sky), code)
        maps.append(code)
    out = np.stack(maps).astype(np.intp)
    out.flags.writeable = False
    return out


def _skyline(rng: np.random.Generator, width: int, height: int, vx: float) -> np.ndarray:
    """Building heights (pixels) per column, none over the road ahead."""
    blocks = rng.integers(4, max(5, width // 6), size=width)
    heights = rng.uniform(0.05, 0.3, size=width) * height * (rng.random(width) < 0.7)
    per_column = np.repeat(heights, blocks)[:width]
    per_column[np.abs(np.arange(width) + 0.5 - vx) < width * 0.12] = 0
    return per_column[None, :]


@lru_cache(maxsize=16)
def overlay_bank(kind: str, width: int, height: int) -> np.ndarray:
    """(levels, OVERLAYS, H, W) packed RGBA patterns for 'rain', 'snow' or 'noise', read-only."""
    rng = np.random.default_rng([_WORLD_SEED, ["rain", "snow", "noise"].index(kind)])
    if kind == "noise":
        out = rng.integers(0, 2**32, size=(1, OVERLAYS, height, width), dtype=np.uint32)
    else:
        out = np.stack([np.stack([_weather_pattern(rng, kind, level, width, height)
                                  for _ in range(OVERLAYS)]) for level in range(3)])
    out.flags.writeable = False
    return out


def _weather_pattern(rng, kind: str, level: int, width: int, height: int) -> np.ndarray:
    density = (0.004, 0.01, 0.02)[level]
    seeds = rng.random((height, width)) < density
    grey = np.zeros((height, width))
    if kind == "rain":  # slanted streaks a few pixels long
        for step in range(max(3, height // 24)):
            grey = np.maximum(grey, np.roll(np.roll(seeds, step, axis=0), step // 3, axis=1) * 150.0)
    else:  # flakes of one or two pixels
        grey = np.maximum(seeds * 235.0, np.roll(seeds, 1, axis=1) * (rng.random() < 0.5) * 200.0)
    g = grey.astype(np.uint32)
    return g | (g << 8) | (g << 16)
