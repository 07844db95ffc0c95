"""Colours of materials and objects under a frame's conditions.

Everything here works on small per-frame tables (16 background materials, a dozen
object parts), never on pixels: lighting, tint, headlights and fog are applied to the
table, and the renderer then looks every pixel up in it. Fog thickens with distance,
so each material and object is fogged by its own distance.
"""

from __future__ import annotations

import numpy as np

from fleetsim.world.conditions import WEATHERS, Conditions
from fleetsim.world.scene import CLASSES, Scene

# Background materials: 2 sky bands, buildings, road x 5 distance bands, verge x 5, lane paint x 3.
SKY, BUILDING, ROAD, VERGE, LANE = 0, 2, 3, 8, 13
BAND_EDGES_M = np.array([40.0, 20.0, 10.0, 5.0])  # far -> near
BAND_DISTANCE_M = np.array([60.0, 28.0, 14.0, 7.0, 3.5])
LANE_DISTANCE_M = np.array([40.0, 14.0, 5.0])
MATERIALS = 16

_ALBEDO = np.zeros((MATERIALS, 3))
_ALBEDO[SKY], _ALBEDO[SKY + 1] = (0.45, 0.62, 0.92), (0.62, 0.76, 0.95)
_ALBEDO[BUILDING] = (0.5, 0.47, 0.45)
_ALBEDO[ROAD:ROAD + 5] = (0.34, 0.34, 0.36)
_ALBEDO[VERGE:VERGE + 5] = (0.33, 0.47, 0.22)
_ALBEDO[LANE:LANE + 3] = (0.92, 0.92, 0.85)
_DISTANCE = np.concatenate([[np.inf, np.inf, 80.0], BAND_DISTANCE_M, BAND_DISTANCE_M, LANE_DISTANCE_M])

_PALETTES = {  # (class, part) -> colours a seen object may have
    (0, 0): [(0.85, 0.85, 0.85), (0.6, 0.6, 0.62), (0.3, 0.3, 0.32), (0.08, 0.08, 0.09),
             (0.15, 0.2, 0.4), (0.55, 0.12, 0.1)],
    (0, 1): [(0.12, 0.13, 0.16)],  # rear window and lamps
    (1, 0): [(0.1, 0.1, 0.12), (0.2, 0.25, 0.45), (0.45, 0.35, 0.25), (0.5, 0.5, 0.5), (0.35, 0.1, 0.1)],
    (1, 1): [(0.85, 0.65, 0.5), (0.55, 0.4, 0.3), (0.35, 0.25, 0.18)],
    (2, 0): [(0.1, 0.1, 0.1), (0.25, 0.25, 0.28)],
    (2, 1): [(0.1, 0.1, 0.12), (0.2, 0.25, 0.45), (0.7, 0.7, 0.1), (0.35, 0.1, 0.1)],
    (3, 0): [(0.5, 0.5, 0.5)],
    (3, 1): [(0.8, 0.1, 0.1), (0.1, 0.25, 0.7), (0.95, 0.8, 0.1)],
}
_NOVEL = np.array([(1.0, 0.0, 0.8), (0.3, 1.0, 0.0), (0.0, 0.9, 0.9), (1.0, 0.5, 0.0)])
_PALETTE_SIZE = max(len(v) for v in _PALETTES.values())
_PALETTE = np.zeros((len(CLASSES), 2, _PALETTE_SIZE, 3))
_PALETTE_LEN = np.zeros((len(CLASSES), 2), dtype=np.int64)
for (_c, _p), _colours in _PALETTES.items():
    _PALETTE[_c, _p, :len(_colours)] = _colours
    _PALETTE_LEN[_c, _p] = len(_colours)
_EMISSIVE = np.zeros((len(CLASSES), 2, 3))
_EMISSIVE[0, 1] = (1.0, 0.18, 0.12)  # lit tail lamps
_RETROREFLECTIVE = np.zeros((len(CLASSES), 2))
_RETROREFLECTIVE[3, 1] = 1.0  # sign plates shine back in headlights


def light(c: Conditions) -> tuple[np.ndarray, np.ndarray]:
    """Ambient light colour (B, 3) and headlight strength (B,) of each frame."""
    day = c.daylight.astype(np.float64)
    level = 0.05 + 0.95 * day ** 0.8
    level *= np.array([1.0, 0.7, 0.85, 0.9])[c.weather] ** np.minimum(1.0, c.intensity * 2)
    dusk = np.clip(1 - np.abs(day - 0.35) / 0.3, 0, 1)
    tint = np.stack([np.ones_like(dusk), 1 - 0.25 * dusk, 1 - 0.45 * dusk], axis=1)
    return level[:, None] * tint, 0.9 * (1 - day) ** 2


def fog(c: Conditions) -> tuple[np.ndarray, np.ndarray]:
    """Fog density per metre (B,) and fog colour (B, 3)."""
    extra = np.array([0.0, 0.012, 0.09, 0.035])[c.weather] * c.intensity
    density = 0.002 + extra + np.where(c.weather == WEATHERS.index("fog"), 0.02, 0.0)
    ambient, headlight = light(c)
    colour = np.array([0.78, 0.8, 0.83]) * (ambient.mean(axis=1) + 0.2 * headlight)[:, None]
    return density, colour


def background_colours(c: Conditions) -> np.ndarray:
    """(B, MATERIALS, 3) colour of each background material in [0, 1]."""
    albedo = np.broadcast_to(_ALBEDO, (len(c), MATERIALS, 3)).copy()
    snow = (c.weather == WEATHERS.index("snow"))[:, None, None] * c.intensity[:, None, None]
    wet = (c.weather == WEATHERS.index("rain"))[:, None, None] * c.intensity[:, None, None]
    albedo[:, VERGE:VERGE + 5] += snow * (0.92 - albedo[:, VERGE:VERGE + 5])
    albedo[:, ROAD:ROAD + 5] += snow * 0.25 - wet * np.array([0.1, 0.08, 0.04])
    day = c.daylight[:, None, None].astype(np.float64)
    sky = albedo[:, SKY:SKY + 2]
    dusk_sky = np.array([[0.55, 0.35, 0.45], [0.95, 0.55, 0.3]])
    night_sky = np.array([[0.01, 0.01, 0.04], [0.03, 0.03, 0.07]])
    albedo[:, SKY:SKY + 2] = np.where(day >= 0.35, sky + (dusk_sky - sky) * np.clip((0.7 - day) / 0.35, 0, 1),
                                      dusk_sky + (night_sky - dusk_sky) * np.clip((0.35 - day) / 0.3, 0, 1))
    ambient, headlight = light(c)
    lit = albedo * (ambient[:, None, :] + headlight[:, None, None] * np.exp(-_DISTANCE / 10)[None, :, None])
    lit[:, SKY:SKY + 2] = albedo[:, SKY:SKY + 2] * np.where(c.weather[:, None, None] == 0, 1.0,
                                                            ambient.mean(axis=1)[:, None, None] / 0.95 + 0.05)
    return _fogged(lit, _DISTANCE[None, :].repeat(len(c), 0), c)


def part_colours(scene: Scene, c: Conditions) -> np.ndarray:
    """(B, MAX_OBJECTS * 2, 3) colour of each object part, in drawing order."""
    cls = scene.cls[..., None]  # (B, O, 1)
    part = np.arange(2)[None, None, :]
    n = _PALETTE_LEN[cls, part]
    pick = np.minimum((scene.tone * n).astype(np.int64), n - 1)
    albedo = _PALETTE[cls, part, pick]
    novel_pick = np.minimum((scene.tone * len(_NOVEL)).astype(np.int64), len(_NOVEL) - 1)
    novel_part = scene.novel[..., None] & (part != np.where(cls == 1, 1, -1))  # keep faces skin-coloured
    albedo = np.where(novel_part[..., None], _NOVEL[novel_pick], albedo)
    albedo *= (0.85 + 0.3 * np.modf(scene.tone * 7)[0])[..., None]
    ambient, headlight = light(c)
    dist = scene.distance[..., None].astype(np.float64)  # (B, O, 1)
    beam = headlight[:, None, None] * np.exp(-dist / 10) * (1 + 3 * _RETROREFLECTIVE[cls, part])
    night = (1 - c.daylight.astype(np.float64))[:, None, None, None]
    lit = albedo * (ambient[:, None, None, :] + beam[..., None]) + night * _EMISSIVE[cls, part]
    b, objects, parts, _ = lit.shape
    flat = lit.reshape(b, objects * parts, 3)
    return _fogged(flat, np.broadcast_to(dist, (b, objects, parts)).reshape(b, objects * parts), c)


def _fogged(colour: np.ndarray, distance: np.ndarray, c: Conditions) -> np.ndarray:
    density, fog_colour = fog(c)
    seen = np.exp(-density[:, None] * np.minimum(distance, 150.0))[..., None]
    return np.clip(colour * seen + fog_colour[:, None, :] * (1 - seen), 0.0, 1.0)
