"""fleetsim: discrete-event simulation of vehicle fleets that detect objects on edge
accelerators and retrain their detector in the cloud.

The public API is what this package exports (``__all__``); notebooks and scripts use
only these names. ``fleetsim.run``, ``fleetsim.Results`` and ``fleetsim.load_run`` (a saved,
complete run folder) load their modules (the engine: ONNX Runtime, and torch for a run that
retrains) on first use, so that importing the package, validating a scenario or asking the CLI
for help stays light.
Python policies (``fleetsim.policies``: ``Retraining``, ``RetrainingObservation``, ...), the
Gymnasium environment (``FleetEnv``, the optional ``gym`` extra) and ``fleetsim.sweep``
load the same way.

>>> import fleetsim                                          # doctest: +SKIP
>>> scenario = fleetsim.load_scenario(fleetsim.scenario_file("quickstart"))  # doctest: +SKIP
>>> results = fleetsim.run(scenario)                         # doctest: +SKIP
>>> results.summary["latency_ms"]["p99"]                     # doctest: +SKIP
>>> fleetsim.predict("coral_usb", "mobilenet_v2_224").latency_s  # doctest: +SKIP
"""

from __future__ import annotations

import os
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

from fleetsim.errors import FleetsimError, ScenarioError
from fleetsim.version import __version__

# Torch's OpenMP threads sleep when they run out of work instead of spinning: a fine-tune's threads
# share the cores with the simulation and the detection workers, and spinning ones kept those off
# them (the quickstart beside another busy process took 115 s with spinning threads, 57 s without;
# on an idle machine the same). It must be set before torch loads; a value already set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

if TYPE_CHECKING:
    from fleetsim.edge.recorded import RecordedDetections
    from fleetsim.engine import run
    from fleetsim.gym import FleetEnv, RewardWeights
    from fleetsim.hardware.catalog import Catalog, load_catalog
    from fleetsim.hardware.roofline import InferenceCost
    from fleetsim.paths import scenario_file
    from fleetsim.policies import (
        Canary,
        CanaryObservation,
        CandidateFrames,
        Placement,
        PlacementObservation,
        PolicyError,
        Retraining,
        RetrainingObservation,
        UploadAction,
        UploadObservation,
    )
    from fleetsim.report.run_folder import load_run
    from fleetsim.results import Results
    from fleetsim.scenario.models import Scenario

__all__ = ["Canary", "CanaryObservation", "CandidateFrames", "Catalog", "FleetEnv", "FleetsimError",
           "InferenceCost", "Placement", "PlacementObservation", "PolicyError", "RecordedDetections",
           "Results", "Retraining", "RetrainingObservation", "RewardWeights", "Scenario", "ScenarioError",
           "UploadAction", "UploadObservation", "compression_card", "compression_frontier", "load_catalog",
           "load_run", "load_scenario", "predict", "run", "scenario_file", "sweep", "__version__"]

_LAZY = {
    "run": "fleetsim.engine",
    "Results": "fleetsim.results",
    "RecordedDetections": "fleetsim.edge.recorded",
    "load_run": "fleetsim.report.run_folder",
    "Scenario": "fleetsim.scenario.models",
    "scenario_file": "fleetsim.paths",
    "Catalog": "fleetsim.hardware.catalog",
    "load_catalog": "fleetsim.hardware.catalog",
    "InferenceCost": "fleetsim.hardware.roofline",
    "FleetEnv": "fleetsim.gym",
    "RewardWeights": "fleetsim.gym",
    **{name: "fleetsim.policies" for name in ("Canary", "CanaryObservation", "CandidateFrames", "Placement",
                                              "PlacementObservation", "PolicyError", "Retraining",
                                              "RetrainingObservation", "UploadAction",
                                              "UploadObservation")},
}
"""Public names imported from their module on first access."""


def load_scenario(path: str | Path, catalog: Catalog | None = None) -> Scenario:
    """Read, validate and cross-check the scenario file ``path`` against ``catalog``
    (default: the shipped hardware models); raise ``ScenarioError`` listing every problem
    with its file and line.

    Edit a loaded scenario through plain data and validate it again:
    ``fleetsim.Scenario.model_validate(scenario.model_dump(mode="json") | changes)``.
    """
    from fleetsim.hardware.catalog import load_catalog
    from fleetsim.scenario.loader import load_scenario as load

    return load(path, catalog if catalog is not None else load_catalog())


def predict(device: str, workload: str, precision: str = "int8", *, batch: int = 1,
            throttled: bool = False, host: str | None = None,
            catalog: Catalog | None = None) -> InferenceCost:
    """The hardware model's latency and energy of one call of ``batch`` inferences of
    ``workload`` on ``device`` (catalog ids, as in ``fleetsim hardware list``).

    ``throttled`` applies the device's sustained-load speed (devices with thermal
    figures), ``host`` overrides the device's host CPU. The result's ``latency_s`` and
    ``energy_j`` are what a simulated vehicle pays per call.
    """
    from fleetsim.hardware.catalog import load_catalog
    from fleetsim.hardware.inference import inference_cost

    catalog = catalog if catalog is not None else load_catalog()
    return inference_cost(catalog.device(device), catalog.profile(workload), precision, catalog,
                          batch=batch, throttled=throttled, host=host)


def __getattr__(name: str):
    if name == "sweep":  # the sweep package, public as a whole (``from fleetsim.sweep import run_sweep``)
        return import_module("fleetsim.sweep")
    if name not in _LAZY:
        raise AttributeError(f"module 'fleetsim' has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, "sweep"})


def compression_card() -> dict:
    """The compressed detector variants' model card: per variant its recipe, precision, MACs and
    parameters counted from its graph, file size, and mAP@0.5 per condition with a bootstrap
    interval over frames (``fleetsim detector build --variants all`` writes it)."""
    from fleetsim.detector.frontier import read_card

    return read_card()


def compression_frontier(devices: tuple[str, ...] = ("coral_usb", "jetson_orin_nano", "rpi5_cpu"),
                         condition: str = "day_clear", catalog: Catalog | None = None) -> list[dict]:
    """One row per (edge device, compressed variant it can run): mAP@0.5 on ``condition`` with its
    interval, latency and energy per frame from the variant's own graph, whether it is
    Pareto-optimal in latency and in energy, and ``ship``: the variant to ship on that device
    (the fastest whose interval reaches the best mAP), as ``fleetsim detector frontier`` prints."""
    from dataclasses import asdict

    from fleetsim.detector.frontier import choice, frontier, read_card
    from fleetsim.hardware.catalog import load_catalog

    catalog = catalog if catalog is not None else load_catalog()
    points = frontier(read_card(), list(devices), catalog, condition)
    shipped = {d: choice(points, d).variant for d in devices if any(p.device == d for p in points)}
    return [asdict(p) | {"ship": shipped.get(p.device) == p.variant} for p in points]
