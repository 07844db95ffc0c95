"""fleetsim: discrete-event simulation of vehicle fleets that detect objects on edge
accelerators and retrain their detector in the cloud.

>>> import fleetsim                                   # doctest: +SKIP
>>> results = fleetsim.run("scenarios/quickstart.yaml")  # doctest: +SKIP
>>> results.summary["latency_ms"]["p99"]              # doctest: +SKIP
"""

from fleetsim.engine import run
from fleetsim.errors import FleetsimError, ScenarioError
from fleetsim.results import Results

__version__ = "0.1.0"
__all__ = ["FleetsimError", "Results", "ScenarioError", "run", "__version__"]
