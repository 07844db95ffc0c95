"""Extensions added from outside fleetsim (test-only): a retraining trigger, a rollout strategy,
a selection policy, a network technology, an edge device and a workload.

Nothing in ``fleetsim/`` names them: the trigger, the rollout strategy and the selection
policy register their scenario model and their code (``fleetsim.cloud.policy.register_trigger``,
``fleetsim.cloud.rollout.register_rollout``, ``fleetsim.edge.selection.register_selection``);
the technology, the device and the
workload are YAML files in a copy of the hardware catalog. ``tests/test_plugins.py`` runs
scenarios with them. CONTRIBUTING.md walks through each.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import Field, NonNegativeInt, PositiveInt

from fleetsim.clock import Clock
from fleetsim.cloud.policy import CountTrigger, register_trigger
from fleetsim.cloud.rollout import Downloads, register_rollout
from fleetsim.edge.facade import Fleet
from fleetsim.edge.selection import register_selection
from fleetsim.paths import PROJECT_ROOT
from fleetsim.scenario.base import Strict
from fleetsim.scenario.cloud import JobPolicy, Rollout
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

class OneCameraSelection(Strict):
    """Keep the detected frames of one camera only (e.g. the front one)."""

    kind: Literal["one_camera"] = Field(description="Selection kind.")
    camera: NonNegativeInt = Field(0, description="Camera index within the group's cameras.")


def one_camera(policy: OneCameraSelection, vehicle, record: dict[str, np.ndarray], conditions,
               rows: np.ndarray) -> np.ndarray:
    """Indices into ``rows`` of the frames kept, in frame order."""
    return np.flatnonzero(record["camera"][rows] == policy.camera)


register_selection(OneCameraSelection, one_camera)

class AllAtOnceRollout(Rollout):
    """Every vehicle downloads a released version at once: no canary, no rollback."""

    kind: Literal["all_at_once"] = Field(description="Rollout strategy.")


class AllAtOnce:
    """The strategy: start every vehicle's download when a version is released."""

    def __init__(self, downloads: Downloads):
        self.downloads = downloads
        self.released: list[int] = []

    def release(self, version: int, previous: int, on_rollback):
        self.released.append(version)
        for vehicle in range(len(self.downloads.fleet)):
            self.downloads.start(vehicle, version)
        yield from ()


ROLLOUTS_BUILT: list[AllAtOnce] = []


def _all_at_once(spec: AllAtOnceRollout, clock: Clock, downloads: Downloads, seed: int, log) -> AllAtOnce:
    ROLLOUTS_BUILT.append(AllAtOnce(downloads))
    return ROLLOUTS_BUILT[-1]


register_rollout(AllAtOnceRollout, _all_at_once)

LEO = {
    "id": "leo_satellite",
    "name": "Low-earth-orbit satellite terminal on the vehicle (illustrative test figures)",
    "access": "cell",
    "metered": True,
}
"""What differs from the LTE file the new technology starts from; its figures are LTE's but latency."""


def _copy(root: Path, kind: str, start: str, new_id: str, name: str) -> dict:
    """``kind/start.yaml`` written again as ``kind/new_id.yaml`` with a new id and name; returns it."""
    spec = yaml.safe_load((root / kind / f"{start}.yaml").read_text(encoding="utf-8"))
    spec.update(id=new_id, name=name)
    (root / kind / f"{new_id}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return spec


def catalog_with_additions(folder: Path) -> Path:
    """A copy of the shipped hardware catalog in ``folder`` plus a technology (leo_satellite), an
    edge device (coral_usb_b, Coral's figures) and a workload (ssd_mobilenet_v2_300_b, totals only)."""
    root = folder / "hardware_models"
    shutil.copytree(PROJECT_ROOT / "hardware_models", root)
    spec = _copy(root, "network", "lte", LEO["id"], LEO["name"])
    spec.update(LEO)
    spec["latency"] = {"value": "30 ms", "source": "test value: a plug-in example, not a measurement"}
    (root / "network" / "leo_satellite.yaml").write_text(yaml.safe_dump(spec, sort_keys=False),
                                                          encoding="utf-8")
    _copy(root, "edge", "coral_usb", "coral_usb_b", "A second Coral USB Accelerator file (test)")
    _copy(root, "workloads", "ssd_mobilenet_v2_300", "ssd_mobilenet_v2_300_b",
          "SSD MobileNetV2 300x300, totals only (test)")
    return root
