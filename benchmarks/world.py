"""Rendering speed of fleetsim.world against a per-object painter in the same run.

The baseline paints every object part of every frame with a Python loop of numpy slice
assignments (the straightforward way); the renderer under test is ``fleetsim.world.render``
(one bit-mask AND and one table lookup per pixel, chunks on a thread pool). Both are timed
on the same frames: clear day (no weather, noise or blur, where their pixels are identical)
and a drifting mix of day/dusk/night, rain/fog/snow, noise and blur.

    .venv/bin/python benchmarks/world.py [--frames 16384] [--size 96x96] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from fleetsim.world import Conditions, render
from fleetsim.world.layout import OVERLAYS, background_layouts
from fleetsim.world.render import PARTS, _colour_table, _part_spans
from fleetsim.world.scene import sample_scene


def drifting_mix(n: int, seed: int = 0) -> Conditions:
    rng = np.random.default_rng(seed)
    return Conditions(
        daylight=rng.choice([1.0, 0.35, 0.03], n).astype(np.float32),
        weather=rng.integers(0, 4, n).astype(np.int8),
        intensity=rng.uniform(0.3, 1.0, n).astype(np.float32),
        novelty=(rng.random(n) < 0.2).astype(np.float32) * 0.5,
        noise=np.full(n, 0.05, np.float32),
        blur=np.where(rng.random(n) < 0.2, 0.34, 0.0).astype(np.float32),
    )


def painter(keys: np.ndarray, conditions: Conditions, size: tuple[int, int]) -> np.ndarray:
    """Straightforward renderer: background lookup, then each part painted far to near."""
    width, height = size
    layouts = background_layouts(width, height)
    scene = sample_scene(keys, conditions.novelty, width, height, len(layouts), OVERLAYS)
    _, _, spans = _part_spans(scene, width, height)
    table = _colour_table(scene, conditions).reshape(len(keys), PARTS + 1, -1)
    out = np.empty((len(keys), height, width, 3), np.uint8)
    for b in range(len(keys)):
        image = table[b, 0][layouts[scene.layout[b]]]
        for p in range(PARTS):
            x0, y0, x1, y1 = spans[b, p]
            image[y0:y1, x0:x1] = table[b, p + 1, 0]
        out[b] = np.stack([(image >> s) & 255 for s in (0, 8, 16)], axis=-1)
    return out


def timed(fn, n: int) -> float:
    started = time.perf_counter()
    fn()
    return n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=16384)
    parser.add_argument("--size", default="96x96")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    keys = np.arange(args.frames, dtype=np.uint64) * np.uint64(2654435761)
    for name, conditions in (("clear_day", Conditions.uniform(args.frames)),
                             ("drifting_mix", drifting_mix(args.frames))):
        render(keys[:256], conditions.take(np.arange(256)), size=size, threads=args.threads)  # warm caches
        fast = timed(lambda c=conditions: fleet_batches(keys, c, size, args.threads), args.frames)
        n = min(args.frames, 4096)
        base = timed(lambda c=conditions, n=n: painter(keys[:n], c.take(np.arange(n)), size), n)
        print(f"{name:13s} size={args.size} threads={args.threads} render_fps={fast:,.0f} "
              f"painter_fps={base:,.0f} ratio={fast / base:.1f}x")


def fleet_batches(keys: np.ndarray, conditions: Conditions, size, threads: int, batch: int = 4096) -> None:
    """Render ``keys`` in batches of ``batch``, as the simulation does."""
    for i in range(0, len(keys), batch):
        rows = np.arange(i, min(i + batch, len(keys)))
        render(keys[rows], conditions.take(rows), size=size, threads=threads)


if __name__ == "__main__":
    main()
