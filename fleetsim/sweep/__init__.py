"""Parameter sweeps: a base scenario, a grid or list of overrides, replications with
derived seeds, every case validated before anything runs, results in tidy tables with
95 % confidence intervals, executed on a local process pool or a Ray cluster.

>>> from fleetsim.sweep import run_sweep, make_backend     # doctest: +SKIP
>>> out = run_sweep("scenarios/sweeps/quick.yaml", "out/sweeps/quick",
...                 make_backend("local", workers=2))      # doctest: +SKIP
>>> out.summary.query("metric == 'latency_ms.p99'")        # doctest: +SKIP

Modules: :mod:`~fleetsim.sweep.spec` (the sweep file), :mod:`~fleetsim.sweep.overrides`
(dotted paths), :mod:`~fleetsim.sweep.plan` (cases, seeds, run ids, validation),
:mod:`~fleetsim.sweep.backends` (inline, local, ray), :mod:`~fleetsim.sweep.runner`
(execution, resume, files), :mod:`~fleetsim.sweep.tables` (results and CIs) and
:mod:`~fleetsim.sweep.policies` (Python policies compared over replications, inline).
"""

from fleetsim.sweep.backends import BACKENDS, make_backend
from fleetsim.sweep.plan import SweepPlan, derived_seed, expand_cases, plan_sweep
from fleetsim.sweep.policies import compare_policies
from fleetsim.sweep.runner import SweepOutcome, run_sweep
from fleetsim.sweep.spec import DEFAULT_METRICS, SweepSpec, load_sweep

__all__ = ["BACKENDS", "DEFAULT_METRICS", "SweepOutcome", "SweepPlan", "SweepSpec", "compare_policies",
           "derived_seed", "expand_cases", "load_sweep", "make_backend", "plan_sweep", "run_sweep"]
