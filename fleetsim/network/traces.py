"""Per-vehicle radio rates read from a Mahimahi trace instead of a distribution.

A Mahimahi trace has one line per delivery opportunity of one 1500-byte packet, written
as the millisecond it occurs; the trace loops after its last line (ravinet/mahimahi
traces/README; cloud_network_retraining.md B8). A vehicle reads the trace from its own
starting offset, and its rate over each rate interval is the packets the trace delivers
in that interval.

>>> trace = RateTrace(np.array([2, 4, 6, 8, 10]))   # a packet every 2 ms: 6 Mbit/s
>>> trace.rates(np.array([0, 3]), 0.0, 1.0).tolist()
[750000.0, 750000.0]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fleetsim.errors import Issue, ScenarioError

PACKET_BYTES = 1500
"""Bytes per delivery opportunity (ravinet/mahimahi traces/README)."""


class RateTrace:
    """Delivery opportunities at ``timestamps_ms`` (sorted), repeating every last timestamp."""

    def __init__(self, timestamps_ms: np.ndarray):
        self.timestamps = np.sort(np.asarray(timestamps_ms, dtype=np.int64))
        self.period_ms = int(self.timestamps[-1])
        self.phase = self.timestamps % self.period_ms  # opportunities within one period, sorted
        self.phase.sort()

    def _delivered(self, ms: np.ndarray) -> np.ndarray:
        """Opportunities in [0, ms) of the looped trace."""
        laps, rest = np.divmod(ms, self.period_ms)
        return laps * len(self.phase) + np.searchsorted(self.phase, rest, side="left")

    def rates(self, offset_ms: np.ndarray, t: float, interval_s: float) -> np.ndarray:
        """Mean rate (bytes/s) over the rate interval that holds ``t``, for readers at ``offset_ms``."""
        slot = int(t // interval_s)
        width = int(round(interval_s * 1000))
        start = offset_ms + slot * width
        packets = self._delivered(start + width) - self._delivered(start)
        return packets * PACKET_BYTES / interval_s


def read_trace(path: Path, where: str) -> RateTrace:
    """A Mahimahi trace file, or one clear error naming the file and the scenario field."""
    if not path.is_file():
        raise ScenarioError([Issue(str(path), None, where, "trace file not found (allowed: a Mahimahi "
                                   "trace, one millisecond timestamp per line, relative to the scenario)")])
    values = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.strip()
        if not text:
            continue
        if not text.isdigit():
            raise ScenarioError([Issue(str(path), number, where, f"{text!r} is not a millisecond timestamp "
                                       "(allowed: a whole number per line)")])
        values.append(int(text))
    if not values or max(values) <= 0:
        raise ScenarioError([Issue(str(path), None, where, "the trace has no delivery opportunities "
                                   "(allowed: at least one positive millisecond timestamp)")])
    return RateTrace(np.array(values))
