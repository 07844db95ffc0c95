"""Per-component random streams derived from one scenario seed.

Each component asks for a stream by a stable key, so adding a component never
changes the numbers another one draws.

>>> a = stream(7, "camera", 0, 3)
>>> b = stream(7, "camera", 0, 3)
>>> float(a.random()) == float(b.random())
True
"""

from __future__ import annotations

import zlib

import numpy as np
from scipy.special import ndtri


def _key_part(part: str | int) -> int:
    if isinstance(part, int):
        return part
    return zlib.crc32(part.encode())


def stream(seed: int, *key: str | int) -> np.random.Generator:
    """Return the generator for component ``key`` of a run seeded with ``seed``."""
    seq = np.random.SeedSequence(entropy=seed, spawn_key=tuple(_key_part(k) for k in key))
    return np.random.Generator(np.random.PCG64(seq))


def component_key(seed: int, *key: str | int) -> np.uint64:
    """A 64-bit key for counter-based draws of component ``key`` (see ``counter_uniform``)."""
    seq = np.random.SeedSequence(entropy=seed, spawn_key=tuple(_key_part(k) for k in key))
    return seq.generate_state(1, np.uint64)[0]


GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio: the SplitMix64 step
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def counter_uniform(keys: np.ndarray | np.uint64, counters: np.ndarray | int) -> np.ndarray:
    """Uniform draws in (0, 1) that are a pure function of (key, counter).

    SplitMix64 over ``key + (counter + 1) * golden``: the k-th draw of a component is
    the same whether it is computed alone or in a vectorised block, which lets the
    per-frame fast path and the one-event-per-frame reference path agree exactly.
    """
    keys = np.asarray(keys, dtype=np.uint64)
    counters = np.asarray(counters, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = keys + (counters + np.uint64(1)) * GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        z = z ^ (z >> np.uint64(31))
    return ((z >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


Z90 = float(ndtri(0.9))
"""Standard normal 90th percentile."""


def lognormal_quantile(median, p90, u):
    """Quantile ``u`` of the lognormal with this median and 90th percentile (arrays broadcast)."""
    return median * np.exp(np.log(p90 / median) / Z90 * ndtri(u))
