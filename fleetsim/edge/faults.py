"""Optional accelerator faults of a vehicle group: thermal throttling and failures.

* Thermal throttling: frames captured from ``after`` seconds into the run are served at
  the accelerator's throttled speed (the roofline at the sustained fraction of its compute
  efficiency). The onset is a fixed time, not a heat model: a lightly loaded device that
  would in reality stay cool throttles all the same.
* Failures: the accelerator fails after exponential up-times with mean ``mtbf`` and stays
  down for a fixed ``repair`` time. A frame whose camera readout ends while it is down, or
  still queued or in service when it fails, is lost and counted as ``failed`` (see ``queueing.serve``).
  Up-times are counter-based draws, so both perception paths see the same outages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fleetsim.hardware.specs import DeviceSpec, Thermal
from fleetsim.rng import counter_uniform
from fleetsim.scenario.models import Failures, ThermalThrottling
from fleetsim.scenario.units import format_quantity


@dataclass(frozen=True)
class Outages:
    """Down intervals of one accelerator: failed at ``onset_s[k]``, back at ``back_s[k]``."""

    onset_s: np.ndarray
    back_s: np.ndarray

    @classmethod
    def none(cls) -> Outages:
        return cls(onset_s=np.zeros(0), back_s=np.zeros(0))

    def down_s(self, horizon_s: float) -> float:
        """Time spent down before ``horizon_s``."""
        return float((np.minimum(self.back_s, horizon_s) - np.minimum(self.onset_s, horizon_s)).sum())


def up_time(key: np.uint64, failures: Failures, k: int) -> float:
    """Up-time before failure number ``k`` of one accelerator: -mtbf * log(u_k)."""
    return float(-failures.mtbf * np.log(counter_uniform(key, k)))


def outage_schedule(key: np.uint64, failures: Failures, horizon_s: float) -> Outages:
    """Every outage that starts before ``horizon_s``, summed in the order a SimPy process
    waiting up-time, repair, up-time, ... would sum them."""
    onsets, backs = [], []
    t, k = 0.0, 0
    while True:
        t += up_time(key, failures, k)
        if t >= horizon_s:
            break
        onsets.append(t)
        t += failures.repair
        backs.append(t)
        k += 1
    return Outages(onset_s=np.array(onsets), back_s=np.array(backs))


def padded(outages: list[Outages]) -> tuple[np.ndarray, np.ndarray]:
    """(V, K+1) onset and return times, padded with +inf so each row ends in +inf."""
    width = max((len(o.onset_s) for o in outages), default=0) + 1
    onset = np.full((len(outages), width), np.inf)
    back = np.full((len(outages), width), np.inf)
    for i, o in enumerate(outages):
        onset[i, :len(o.onset_s)] = o.onset_s
        back[i, :len(o.back_s)] = o.back_s
    return onset, back


def throttled_device(device: DeviceSpec, throttling: ThermalThrottling, where: str) -> DeviceSpec:
    """``device`` with the thermal figures the scenario sets at ``where`` (the rest its own)."""
    own = device.thermal
    figures = {}
    for name, field, kind in (("time_to_throttle", "after", "time"),
                              ("sustained_fraction", "sustained_fraction", None)):
        value = getattr(throttling, field)
        if value is None:
            figures[name] = getattr(own, name)
        else:
            shown = format_quantity(value, kind) if kind else value
            figures[name] = {"value": shown, "source": f"scenario {where}.{field}"}
    return device.model_copy(update={"thermal": Thermal.model_validate(figures)})
