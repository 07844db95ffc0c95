"""Render batches of road scenes with ground truth, vectorised over frames.

How it stays fast (about 10k 96x96 frames/s on two cores): every object part is an
axis-aligned rectangle owning one bit of a 16-bit mask, with nearer objects on higher
bits. A pixel's mask is ``row_bits & column_bits`` (one AND per pixel), the nearest
part covering it is the mask's highest set bit (read from the float32 exponent), and
its colour is one lookup in a per-frame table of 17 x 16 colours (no part or a part,
times 16 background materials) built under the frame's lighting, weather and fog.
Rain, snow, sensor noise and blur then touch only the frames that have them, working
on packed RGBA words; each chunk's words are then written out as contiguous RGB bytes,
three words from four (what ONNX Runtime reads without a copy of its own). Chunks of
frames render on a thread pool (numpy releases the GIL).

>>> from fleetsim.world import Conditions, render
>>> frames = render(np.arange(4, dtype=np.uint64), Conditions.uniform(4))
>>> frames.images.shape
(4, 96, 96, 3)
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from fleetsim.world.appearance import background_colours, part_colours
from fleetsim.world.conditions import WEATHERS, Conditions
from fleetsim.world.layout import OVERLAYS, background_layouts, overlay_bank
from fleetsim.world.scene import MAX_OBJECTS, PARTS_PER_OBJECT, Scene, sample_scene

PARTS = MAX_OBJECTS * PARTS_PER_OBJECT
CODES = PARTS + 1  # 'no part' plus one code per part
CHUNK = 64
MIN_VISIBLE = 0.3  # objects less visible than this (occluded or cut off) are not ground truth
MIN_HEIGHT_PX = 4  # boxes shorter than this are drawn but not counted


@dataclass(frozen=True)
class AnnotatedFrames:
    """Frames (pixels) and their boxes: the ground truth rendered, or the labels a labeller gave."""

    images: np.ndarray  # uint8 (B, H, W, 3)
    frame: np.ndarray  # int64 (M,) frame index of each ground-truth object
    cls: np.ndarray  # int64 (M,) class index into scene.CLASSES
    box: np.ndarray  # float32 (M, 4) x0, y0, x1, y1 in pixels (pixel edges)
    visible: np.ndarray  # float32 (M,) share of the box not occluded
    novel: np.ndarray  # bool (M,) object has an unseen colour/shape
    conditions: Conditions

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, rows: np.ndarray) -> AnnotatedFrames:
        """Frames ``rows`` (in that order) with their objects, frame indices renumbered."""
        rows = np.asarray(rows, dtype=np.int64)
        new_index = np.full(len(self), -1)
        new_index[rows] = np.arange(len(rows))
        keep = np.flatnonzero(new_index[self.frame] >= 0)
        keep = keep[np.argsort(new_index[self.frame[keep]], kind="stable")]
        return AnnotatedFrames(self.images[rows], new_index[self.frame[keep]], self.cls[keep], self.box[keep],
                               self.visible[keep], self.novel[keep], self.conditions.take(rows))

    @staticmethod
    def concat(batches: list[AnnotatedFrames]) -> AnnotatedFrames:
        """One batch holding ``batches`` one after the other."""
        offsets = np.cumsum([0] + [len(b) for b in batches[:-1]])
        return AnnotatedFrames(np.concatenate([b.images for b in batches]),
                               np.concatenate([b.frame + o for b, o in zip(batches, offsets, strict=True)]),
                               *(np.concatenate([getattr(b, f) for b in batches])
                                 for f in ("cls", "box", "visible", "novel")),
                               Conditions.concat([b.conditions for b in batches]))


def render(keys: np.ndarray, conditions: Conditions, size: tuple[int, int] = (96, 96),
           threads: int = 2) -> AnnotatedFrames:
    """Render one frame per key (uint64) under the matching row of ``conditions``.

    ``size`` is (width, height). The result depends on keys and conditions only, never
    on batch size or thread count.
    """
    keys = np.asarray(keys, dtype=np.uint64)
    if len(keys) != len(conditions):
        raise ValueError(f"{len(keys)} keys but {len(conditions)} condition rows")
    width, height = size
    if width < 32 or height < 32:
        raise ValueError(f"frame size {width}x{height} is too small; at least 32x32")
    layouts = background_layouts(width, height)
    scene = sample_scene(keys, conditions.novelty, width, height, len(layouts), OVERLAYS)
    rows, cols, coverage = _part_spans(scene, width, height)
    table = _colour_table(scene, conditions)
    images = np.empty((len(keys), height, width, 3), dtype=np.uint8)
    chunks = [slice(i, min(i + CHUNK, len(keys))) for i in range(0, len(keys), CHUNK)]
    job = lambda s: _render_chunk(images[s], rows[s], cols[s], scene.layout[s], table[s],  # noqa: E731
                                  conditions.take(np.arange(s.start, s.stop)), scene.overlay[s])
    if threads > 1 and len(chunks) > 1:
        list(_pool(threads).map(job, chunks))
    else:
        for s in chunks:
            job(s)
    return _with_truth(images, scene, coverage, conditions)


def _part_spans(scene: Scene, width: int, height: int):
    """Row and column bit masks (value 2*bits+1) and each part's integer pixel span."""
    parts = scene.parts.reshape(len(scene.layout), PARTS, 4)
    active = np.repeat(scene.active, PARTS_PER_OBJECT, axis=1)
    c0 = np.clip(np.ceil(parts[..., 0] - 0.5), 0, width).astype(np.int64)
    c1 = np.clip(np.ceil(parts[..., 2] - 0.5), 0, width).astype(np.int64)
    r0 = np.clip(np.ceil(parts[..., 1] - 0.5), 0, height).astype(np.int64)
    r1 = np.clip(np.ceil(parts[..., 3] - 0.5), 0, height).astype(np.int64)
    c1 = np.where(active, np.maximum(c1, np.minimum(c0 + 1, width)), c0)  # at least one column wide
    r1 = np.where(active, r1, r0)
    weight = np.where(active, 1 << np.arange(PARTS, dtype=np.int64), 0)
    rows, cols = _bit_profile(r0, r1, weight, height), _bit_profile(c0, c1, weight, width)
    return (rows << 1) | 1, (cols << 1) | 1, np.stack([c0, r0, c1, r1], axis=-1)


def _bit_profile(start: np.ndarray, stop: np.ndarray, weight: np.ndarray, length: int) -> np.ndarray:
    """(B, length) uint32: sum of ``weight`` over parts whose span [start, stop) holds each position."""
    b = len(start)
    base = (np.arange(b) * (length + 1))[:, None]
    flat = np.concatenate([(base + start).ravel(), (base + stop).ravel()])
    steps = np.bincount(flat, np.concatenate([weight.ravel(), -weight.ravel()]), minlength=b * (length + 1))
    return np.cumsum(steps.reshape(b, length + 1)[:, :length], axis=1).astype(np.uint32)


def _colour_table(scene: Scene, conditions: Conditions) -> np.ndarray:
    """(B, CODES * 16) packed RGBA: [no part | part p] x background material."""
    bg = _pack(background_colours(conditions))  # (B, 16)
    parts = _pack(part_colours(scene, conditions))  # (B, PARTS)
    table = np.empty((len(bg), CODES, bg.shape[1]), dtype=np.uint32)
    table[:, 0] = bg
    table[:, 1:] = parts[:, :, None]
    return table.reshape(len(bg), CODES * bg.shape[1])


def _pack(rgb: np.ndarray) -> np.ndarray:
    q = np.round(rgb * 255).astype(np.uint32)
    return q[..., 0] | (q[..., 1] << 8) | (q[..., 2] << 16)


class _Scratch(threading.local):
    """Per-thread work buffers, reused across chunks (no large allocations per call)."""

    def get(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if getattr(self, "shape", None) != (height, width):
            self.shape = (height, width)
            self.words = np.empty((CHUNK, height, width), dtype=np.uint32)
            self.mask = np.empty((CHUNK, height, width), dtype=np.uint32)
            self.float = np.empty((CHUNK, height, width), dtype=np.float32)
            self.index = np.empty((CHUNK, height, width), dtype=np.intp)
        return self.words, self.mask, self.float, self.index


_SCRATCH = _Scratch()
_POOLS: dict[int, ThreadPoolExecutor] = {}


def _pool(threads: int) -> ThreadPoolExecutor:
    if threads not in _POOLS:
        _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="fleetsim-render")
    return _POOLS[threads]


def _render_chunk(images, rows, cols, layout, table, conditions, overlay) -> None:
    n, height, width, _ = images.shape
    out, mask, as_float, index = (a[:n] for a in _SCRATCH.get(height, width))
    np.bitwise_and(rows[:, :, None], cols[:, None, :], out=mask)  # 2*bits+1: exponent = 127 + top bit + 1
    np.copyto(as_float, mask, casting="unsafe")
    np.right_shift(as_float.view(np.uint32), 19, out=index, casting="unsafe")
    np.bitwise_and(index, ~np.intp(15), out=index)
    maps = background_layouts(width, height)
    for k, which in enumerate(layout):
        np.add(index[k], maps[which], out=index[k])
    index += (np.arange(n, dtype=np.intp) * (CODES * 16) - 127 * 16)[:, None, None]
    np.take(table.reshape(-1), index, out=out, mode="wrap")  # indices are in range; wrap skips checks
    _weather_overlay(out, conditions, overlay)
    _sensor(out, conditions, overlay, mask)
    _to_rgb(out, images, mask)


def _to_rgb(words: np.ndarray, rgb: np.ndarray, scratch: np.ndarray) -> None:
    """Packed words 0x00BBGGRR (little-endian RGBA bytes, the alpha byte 0 as every colour, overlay
    and noise mask here leaves it) into contiguous RGB bytes: every four pixels' words p0..p3 make
    three words, p0 | p1 << 24, p1 >> 8 | p2 << 16 and p2 >> 16 | p3 << 8 (the same bytes as a copy
    of the first three of each four, about three times as fast)."""
    pixels = words.reshape(-1)
    groups = len(pixels) // 4
    four = pixels[:4 * groups].reshape(groups, 4)
    flat = rgb.reshape(-1)
    three = flat[:12 * groups].view(np.uint32).reshape(groups, 3)
    shifted = scratch.reshape(-1)[:groups]
    for k, (down, up) in enumerate(((0, 24), (8, 16), (16, 8))):
        np.left_shift(four[:, k + 1], up, out=shifted)
        np.right_shift(four[:, k], down, out=three[:, k])
        np.bitwise_or(three[:, k], shifted, out=three[:, k])
    flat[12 * groups:] = pixels[4 * groups:].view(np.uint8).reshape(-1, 4)[:, :3].reshape(-1)


def _weather_overlay(out, conditions: Conditions, overlay) -> None:
    """Rain streaks and snowflakes: brighten pixels under the pattern (per-byte max, in place)."""
    pixels = out.view(np.uint8)
    for name in ("rain", "snow"):
        which = np.flatnonzero((conditions.weather == WEATHERS.index(name)) & (conditions.intensity > 0))
        if len(which) == 0:
            continue
        level = np.minimum((conditions.intensity[which] * 3).astype(np.int64), 2)
        bank = overlay_bank(name, out.shape[2], out.shape[1]).view(np.uint8)
        for k, lv, pattern in zip(which, level, overlay[which], strict=True):
            np.maximum(pixels[k], bank[lv, pattern], out=pixels[k])


_NOISE_MASKS = np.array([0, 0x010101, 0x030303, 0x070707, 0x0F0F0F, 0x1F1F1F], dtype=np.uint32)
_HALF = np.uint32(0x7F7F7F7F)


def _sensor(out, conditions: Conditions, overlay, scratch) -> None:
    """Sensor noise (low bits flipped; more gain, more noise at night) and motion blur, in place."""
    gain_noise = conditions.noise + 0.5 * (1 - conditions.daylight) ** 2
    level = np.minimum(np.round(gain_noise * 5).astype(np.int64), 5)  # in fifths; below 0.1 no bit flips
    bits = overlay_bank("noise", out.shape[2], out.shape[1])[0]
    flips = scratch[0]
    for k in np.flatnonzero(level):
        np.bitwise_and(bits[overlay[k]], _NOISE_MASKS[level[k]], out=flips)
        out[k] ^= flips
    passes = np.minimum(np.round(conditions.blur * 3).astype(np.int64), 3)
    for k in np.flatnonzero(passes):
        for p in range(passes[k]):
            _blur_row_pass(out[k], scratch[0], shift=1 if p % 2 == 0 else -1)


def _blur_row_pass(words: np.ndarray, neighbour: np.ndarray, shift: int) -> None:
    """Average each pixel with its neighbour on one side, per byte of packed RGBA words (in place)."""
    if shift > 0:
        neighbour[:, 1:] = words[:, :-1]
        neighbour[:, 0] = words[:, 0]
    else:
        neighbour[:, :-1] = words[:, 1:]
        neighbour[:, -1] = words[:, -1]
    carry = (words ^ neighbour) >> 1
    words &= neighbour
    words += carry & _HALF


def _with_truth(images, scene: Scene, coverage, conditions) -> AnnotatedFrames:
    """Ground-truth boxes: union of each object's box parts, cut to the frame, minus occlusion."""
    b, o = scene.active.shape
    box = _union_box(coverage.reshape(b, o, PARTS_PER_OBJECT, 4), scene.box_part)  # pixels drawn
    area = _area(box)
    full = _area(_union_box(scene.parts, scene.box_part))  # before cutting at the frame edges
    ix = np.clip(np.minimum(box[:, :, None, 2], box[:, None, :, 2])
                 - np.maximum(box[:, :, None, 0], box[:, None, :, 0]), 0, None)
    iy = np.clip(np.minimum(box[:, :, None, 3], box[:, None, :, 3])
                 - np.maximum(box[:, :, None, 1], box[:, None, :, 1]), 0, None)
    nearer = np.triu(np.ones((o, o), dtype=bool), k=1)[None] & scene.active[:, None, :]
    hidden = np.minimum((ix * iy * nearer).sum(axis=2), area)
    visible = np.where(full > 0, (area - hidden) / np.maximum(full, 1e-9), 0.0)
    keep = scene.active & (visible >= MIN_VISIBLE) & (box[..., 3] - box[..., 1] >= MIN_HEIGHT_PX)
    frame, slot = np.nonzero(keep)
    return AnnotatedFrames(images=images, frame=frame, cls=scene.cls[frame, slot],
                           box=box[frame, slot].astype(np.float32),
                           visible=visible[frame, slot].astype(np.float32),
                           novel=scene.novel[frame, slot], conditions=conditions)


def _union_box(rects: np.ndarray, use: np.ndarray) -> np.ndarray:
    """(..., 4) box around the rectangles (..., parts, 4) selected by ``use`` (..., parts)."""
    rects, use = rects.astype(np.float64), use[..., None]
    return np.concatenate([np.where(use, rects, np.inf)[..., :2].min(axis=-2),
                           np.where(use, rects, -np.inf)[..., 2:].max(axis=-2)], axis=-1)


def _area(box: np.ndarray) -> np.ndarray:
    return np.maximum(box[..., 2] - box[..., 0], 0) * np.maximum(box[..., 3] - box[..., 1], 0)
