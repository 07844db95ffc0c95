"""A retraining trigger and a network technology added from outside fleetsim (a test-only plug-in).

Nothing in ``fleetsim/`` names them: the trigger registers its scenario model and builder
(``fleetsim.cloud.policy.register_trigger``), and the technology is one YAML file in a copy
of the hardware catalog. ``tests/test_plugins.py`` runs a scenario with both.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, PositiveInt

from fleetsim.cloud.policy import CountTrigger, register_trigger
from fleetsim.edge.facade import Fleet
from fleetsim.paths import PROJECT_ROOT
from fleetsim.scenario.cloud import JobPolicy
from fleetsim.scenario.types import Duration


class CooldownRetrain(JobPolicy):
    """Retrain once ``samples`` new labelled samples arrived, at most once per ``cooldown``."""

    kind: Literal["cooldown"] = Field(description="Policy kind.")
    samples: PositiveInt = Field(description="New samples since the last job that start the next one.")
    cooldown: Duration = Field("5 min", description="Least time between two job starts.")
    check_every: Duration = Field("1 min", description="How often the trigger looks.")


class Cooldown(CountTrigger):
    """A sample-count trigger that waits ``cooldown`` after each job it started."""

    def __init__(self, spec: CooldownRetrain, fleet: Fleet):
        super().__init__(spec, spec.check_every, spec.samples)
        self.fleet = fleet
        self.last_start_s = -float("inf")
        self.starts: list[float] = []  # when each job started, for the test to check

    def wants_job(self, now: float, new_samples: int) -> bool:
        return super().wants_job(now, new_samples) and now >= self.last_start_s + self.spec.cooldown

    def job_started(self) -> None:
        self.last_start_s = self.fleet.env.now
        self.starts.append(self.last_start_s)


TRIGGERS_BUILT: list[Cooldown] = []


def _build(spec: CooldownRetrain, fleet: Fleet) -> Cooldown:
    trigger = Cooldown(spec, fleet)
    TRIGGERS_BUILT.append(trigger)
    return trigger


register_trigger(CooldownRetrain, _build)

LEO = {
    "id": "leo_satellite",
    "name": "Low-earth-orbit satellite terminal on the vehicle (illustrative test figures)",
    "access": "cell",
    "metered": True,
}
"""What differs from the LTE file the new technology starts from; its figures are LTE's but latency."""


def catalog_with_satellite(folder: Path) -> Path:
    """A copy of the shipped hardware catalog in ``folder`` plus ``network/leo_satellite.yaml``."""
    root = folder / "hardware_models"
    shutil.copytree(PROJECT_ROOT / "hardware_models", root)
    spec = yaml.safe_load((root / "network" / "lte.yaml").read_text(encoding="utf-8"))
    spec.update(LEO)
    spec["latency"] = {"value": "30 ms", "source": "test value: a plug-in example, not a measurement"}
    (root / "network" / "leo_satellite.yaml").write_text(yaml.safe_dump(spec, sort_keys=False),
                                                          encoding="utf-8")
    return root
