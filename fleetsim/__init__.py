"""fleetsim: discrete-event simulation of vehicle fleets that detect objects on edge
accelerators and retrain their detector in the cloud.

``fleetsim.run``, ``fleetsim.Results`` and ``fleetsim.load_run`` (a saved, complete run
folder) load their modules (torch, ONNX Runtime) on first
use, so that importing the package, validating a scenario or asking the CLI for help
stays light.

>>> import fleetsim                                   # doctest: +SKIP
>>> results = fleetsim.run("scenarios/quickstart.yaml")  # doctest: +SKIP
>>> results.summary["latency_ms"]["p99"]              # doctest: +SKIP
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from fleetsim.errors import FleetsimError, ScenarioError
from fleetsim.version import __version__

if TYPE_CHECKING:
    from fleetsim.engine import run
    from fleetsim.report.run_folder import load_run
    from fleetsim.results import Results

__all__ = ["FleetsimError", "Results", "ScenarioError", "load_run", "run", "__version__"]

_LAZY = {"run": "fleetsim.engine", "Results": "fleetsim.results", "load_run": "fleetsim.report.run_folder"}
"""Public names imported from their (heavy) module on first access."""


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'fleetsim' has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
