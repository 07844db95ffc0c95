"""The clock of one run: its SimPy environment and its horizon.

Every component that waits or stops at the end of the run takes a ``Clock`` rather than
the environment and the duration separately.
"""

from __future__ import annotations

from dataclasses import dataclass

import simpy


@dataclass(frozen=True)
class Clock:
    """A run's SimPy environment and the simulated time it ends at, in seconds."""

    env: simpy.Environment
    end_s: float

    @property
    def now(self) -> float:
        return self.env.now
