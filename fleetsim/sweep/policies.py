"""Python policies compared over replications: the sweep's seeds and confidence intervals.

``compare_policies`` runs each candidate (a scenario, with or without a user's Python
policies) under the same replication seeds (``derived_seed`` of the sweep's root seed, so
the comparison is paired: common random numbers) and tabulates each metric's mean with its
95 % confidence interval (``mean_ci``, as a sweep's ``summary.parquet``). Python policies
live in the caller's process, so the runs are inline, one after another; a sweep file cannot
name them (configuration never imports code).

>>> runs, summary = compare_policies({"periodic": (scenario, None),           # doctest: +SKIP
...                                   "mine": (scenario, lambda: {"retraining": Mine()})}, 5)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pandas as pd

import fleetsim
from fleetsim.sweep.plan import derived_seed
from fleetsim.sweep.tables import mean_ci, metric_value

Candidate = tuple["fleetsim.Scenario", Callable[[], dict] | None]
"""A scenario and a factory of the Python policies to run it with (None: its own kinds)."""

METRICS = ("accuracy.map50_mean", "retraining.jobs", "retraining.cloud_cost_usd", "labeling.cost_usd",
           "energy.radio_j")


def compare_policies(candidates: Mapping[str, Candidate], replications: int,
                     metrics: Sequence[str] = METRICS, *, seed: int = 0,
                     catalog: fleetsim.Catalog | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run every candidate ``replications`` times on the same seeds; (one row per run, one row per
    candidate and metric with ``n``, ``mean``, ``std``, ``ci95``, ``ci95_low``, ``ci95_high``).

    A policy factory is called once per run, so a stateful policy starts afresh each time.
    """
    catalog = catalog if catalog is not None else fleetsim.load_catalog()
    seeds = [derived_seed(seed, {}, r) for r in range(replications)]
    rows = []
    for name, (scenario, make) in candidates.items():
        for r, run_seed in enumerate(seeds):
            results = fleetsim.run(scenario, seed=run_seed, catalog=catalog,
                                   policies=make() if make is not None else None)
            rows.append({"candidate": name, "replication": r, "seed": run_seed,
                         **{m: metric_value(results.summary, m) for m in metrics}})
    runs = pd.DataFrame(rows)
    summary = pd.DataFrame([{"candidate": name, "metric": m, **mean_ci(group[m])}
                            for name, group in runs.groupby("candidate", sort=False) for m in metrics])
    return runs, summary
