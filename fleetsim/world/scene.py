"""Random road scenes: which objects stand where, seen through a pinhole camera.

Every frame is a pure function of its 64-bit key: the same key gives the same scene
whether it is drawn alone or in a batch. Objects stand on a flat ground plane, so
their pixel size is their real size times focal length over distance, and their foot
row is ``horizon + focal * camera_height / distance`` (perspective-consistent).
Each object is drawn as two axis-aligned parts (e.g. a pedestrian's body and head),
nearer objects over farther ones, which gives partial occlusion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fleetsim.rng import counter_uniform

CLASSES = ("car", "pedestrian", "cyclist", "sign")
MAX_OBJECTS = 6
PARTS_PER_OBJECT = 2
CAMERA_HEIGHT_M = 1.5
HORIZON = 0.4  # horizon row as a share of frame height
FOCAL = 0.9  # focal length as a share of frame width (about 58 degrees field of view)
NEAREST_M, FARTHEST_M = 4.0, 20.0

# Per class: slot share, height and width in metres (min, max), lateral position range (|X|, metres).
CLASS_SHARE = np.array([0.45, 0.25, 0.15, 0.15])
HEIGHT_M = np.array([[1.4, 1.7], [1.55, 1.9], [1.6, 1.9], [2.2, 2.8]])
WIDTH_M = np.array([[1.7, 2.0], [0.55, 0.75], [1.5, 1.8], [0.9, 1.2]])
LATERAL_M = np.array([[0.0, 5.5], [3.8, 7.5], [2.6, 4.2], [5.0, 7.5]])
# Unseen shapes (novelty): a tall van, a pedestrian under an umbrella, a cargo bike, a wide board sign.
NOVEL_HEIGHT = np.array([2.6, 1.9, 1.7, 2.4])
NOVEL_WIDTH = np.array([2.3, 1.1, 2.6, 1.6])

_DRAWS_PER_SLOT = 9
_DRAWS = 2 + MAX_OBJECTS * _DRAWS_PER_SLOT


@dataclass(frozen=True)
class Scene:
    """Objects of a batch of frames, nearest last within each frame (arrays (B, MAX_OBJECTS))."""

    active: np.ndarray  # bool
    cls: np.ndarray  # int64 class index into CLASSES
    distance: np.ndarray  # float32 metres
    novel: np.ndarray  # bool: unseen colour/shape
    parts: np.ndarray  # float32 (B, MAX_OBJECTS, PARTS_PER_OBJECT, 4): x0, y0, x1, y1 in pixels
    box_part: np.ndarray  # bool (B, MAX_OBJECTS, PARTS_PER_OBJECT): part counts toward the box
    tone: np.ndarray  # float32 (B, MAX_OBJECTS, 2): two uniforms choosing colours
    layout: np.ndarray  # int64 (B,): background layout index
    overlay: np.ndarray  # int64 (B,): rain/snow/noise pattern index


def focal_px(width: int) -> float:
    return FOCAL * width


def horizon_row(height: int) -> float:
    return HORIZON * height


def sample_scene(keys: np.ndarray, novelty: np.ndarray, width: int, height: int, layouts: int,
                 overlays: int) -> Scene:
    """Draw the objects of frames ``keys`` (uint64, (B,)); ``novelty`` is per frame."""
    u = counter_uniform(np.asarray(keys, np.uint64)[:, None], np.arange(_DRAWS)[None, :])
    slot = u[:, 2:].reshape(len(keys), MAX_OBJECTS, _DRAWS_PER_SLOT)
    active = slot[..., 0] < 0.6
    active[:, 0] |= slot[:, 0, 0] < 0.9  # most frames show at least one object
    cls = np.searchsorted(np.cumsum(CLASS_SHARE), slot[..., 1] * CLASS_SHARE.sum(), side="right")
    cls = np.minimum(cls, len(CLASSES) - 1)
    distance = NEAREST_M + (FARTHEST_M - NEAREST_M) * slot[..., 2] ** 1.5
    novel = slot[..., 3] < np.asarray(novelty, np.float64)[:, None]
    height_m = _between(HEIGHT_M[cls], slot[..., 4])
    width_m = _between(WIDTH_M[cls], slot[..., 5])
    height_m = np.where(novel, NOVEL_HEIGHT[cls] * (0.9 + 0.2 * slot[..., 4]), height_m)
    width_m = np.where(novel, NOVEL_WIDTH[cls] * (0.9 + 0.2 * slot[..., 5]), width_m)
    side = np.where(slot[..., 6] < 0.5, -1.0, 1.0)
    lateral = side * _between(LATERAL_M[cls], np.abs(slot[..., 6] - 0.5) * 2)
    layout = np.minimum((u[:, 0] * layouts).astype(np.int64), layouts - 1)
    f, yh = focal_px(width), horizon_row(height)
    centre_x = _vanishing_x(layout, layouts, width)[:, None] + lateral * f / distance
    foot = yh + f * CAMERA_HEIGHT_M / distance
    parts, box_part = _parts(cls, novel, centre_x, foot, width_m * f / distance, height_m * f / distance)
    order = np.argsort(np.where(active, -distance, -np.inf), axis=1, kind="stable")  # far first
    pick = lambda a: np.take_along_axis(a, order.reshape(order.shape + (1,) * (a.ndim - 2)), axis=1)  # noqa: E731
    return Scene(active=pick(active), cls=pick(cls), distance=pick(distance).astype(np.float32),
                 novel=pick(novel), parts=pick(parts).astype(np.float32), box_part=pick(box_part),
                 tone=pick(slot[..., 7:9]).astype(np.float32), layout=layout,
                 overlay=np.minimum((u[:, 1] * overlays).astype(np.int64), overlays - 1))


def layout_vanishing_x(layouts: int, width: int) -> np.ndarray:
    """Column of the vanishing point of each background layout (the road bends left or right)."""
    return _vanishing_x(np.arange(layouts), layouts, width)


def _vanishing_x(layout: np.ndarray, layouts: int, width: int) -> np.ndarray:
    return width * (0.5 + 0.12 * ((layout + 0.5) / layouts - 0.5) * 2)


def _between(bounds: np.ndarray, u: np.ndarray) -> np.ndarray:
    return bounds[..., 0] + (bounds[..., 1] - bounds[..., 0]) * u


def _parts(cls, novel, cx, foot, w, h):
    """Two rectangles per object and which of them make up its ground-truth box."""
    x0, x1, top = cx - w / 2, cx + w / 2, foot - h
    car = [(x0, top, x1, foot), (x0 + 0.1 * w, top + 0.35 * h, x1 - 0.1 * w, top + 0.55 * h)]
    head = np.where(novel, 1.0, 0.3) * w  # an umbrella is as wide as the box
    pedestrian = [(cx - 0.25 * w, top + 0.2 * h, cx + 0.25 * w, foot),
                  (cx - head / 2, top, cx + head / 2, top + 0.2 * h)]
    cyclist = [(x0, foot - 0.45 * h, x1, foot), (cx - 0.15 * w, top, cx + 0.15 * w, foot - 0.3 * h)]
    plate_bottom = top + np.where(novel, 0.25, 0.3) * h
    pole = np.maximum(0.08 * w, 0.6)
    sign = [(cx - pole / 2, plate_bottom, cx + pole / 2, foot), (x0, top, x1, plate_bottom)]
    by_class = [car, pedestrian, cyclist, sign]
    parts = np.zeros(cls.shape + (PARTS_PER_OBJECT, 4))
    for c, rects in enumerate(by_class):
        for p, rect in enumerate(rects):
            stacked = np.stack(np.broadcast_arrays(*rect), axis=-1)
            parts[:, :, p] = np.where((cls == c)[..., None], stacked, parts[:, :, p])
    box_part = np.ones(cls.shape + (PARTS_PER_OBJECT,), dtype=bool)
    box_part[..., 0] &= cls != CLASSES.index("sign")  # a sign's box is its plate, not the pole
    return parts, box_part
