"""The sweep's tidy tables: one row per run, and mean with a 95 % confidence interval per case.

``results.parquet`` columns: ``run_id``, ``case`` (index of the case), ``replication``,
``seed``, ``status`` (``ok`` or ``failed``), ``error``, ``wall_s``, one column per swept
path (as written in the sweep file, canonical spelling ``a.b[0].c``), then one column
per metric (NaN where the run failed or the summary has no number there).

``summary.parquet`` is long: one row per (case, metric) with the swept columns,
``metric``, ``runs`` (finished runs of the case), ``failed``, ``n`` (runs with a number
for this metric), ``mean``, ``std`` (ddof 1), ``ci95`` (the half-width
``t(0.975, n - 1) * std / sqrt(n)``, Student's t from scipy; NaN below n = 2),
``ci95_low`` and ``ci95_high``.

>>> mean_ci([1.0, 2.0, 3.0])["ci95"].__round__(3)
2.484
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

RUN_COLUMNS = ("run_id", "case", "replication", "seed", "status", "error", "wall_s")


def metric_value(summary: dict, metric: str) -> float:
    """The number at dotted ``metric`` in a summary (NaN if absent, null or not a number)."""
    node: Any = summary
    for part in metric.split("."):
        if not isinstance(node, dict) or part not in node:
            return math.nan
        node = node[part]
    if isinstance(node, bool):
        return float(node)
    if isinstance(node, int | float):
        return float(node)
    return math.nan


def mean_ci(values) -> dict[str, float]:
    """n, mean, std and the 95 % confidence half-width of the finite ``values``."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    n = len(x)
    mean = float(x.mean()) if n else math.nan
    std = float(x.std(ddof=1)) if n > 1 else math.nan
    half = float(stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)) if n > 1 else math.nan
    return {"n": n, "mean": mean, "std": std, "ci95": half, "ci95_low": mean - half, "ci95_high": mean + half}


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    return json.dumps(value, sort_keys=True)


def parameter_columns(rows: list[dict[str, Any]], parameters: list[str]) -> pd.DataFrame:
    """Swept values as columns; a column whose values differ in type is stored as text."""
    frame = {}
    for p in parameters:
        values = [_cell(r.get(p)) for r in rows]
        kinds = {type(v) for v in values if v is not None}
        if kinds <= {int, float} and kinds != {int, float}:
            frame[p] = pd.Series(values, dtype=object).infer_objects()
        elif kinds <= {int, float}:
            frame[p] = pd.Series([float(v) if v is not None else None for v in values], dtype=float)
        elif len(kinds) > 1:
            frame[p] = pd.Series([str(v) if v is not None else None for v in values], dtype=object)
        else:
            frame[p] = pd.Series(values, dtype=object).infer_objects()
    return pd.DataFrame(frame, index=range(len(rows)))


def results_table(records: list[dict[str, Any]], parameters: list[str], metrics: list[str]) -> pd.DataFrame:
    """One row per run from records with the RUN_COLUMNS, ``overrides`` and ``summary``."""
    runs = pd.DataFrame([{c: r.get(c) for c in RUN_COLUMNS} for r in records], columns=list(RUN_COLUMNS))
    runs = runs.astype({"case": "int64", "replication": "int64", "seed": "int64", "wall_s": float})
    runs["error"] = runs["error"].astype(object)
    params = parameter_columns([r["overrides"] for r in records], parameters)
    values = pd.DataFrame({m: [metric_value(r.get("summary") or {}, m) for r in records] for m in metrics},
                          index=range(len(records)), dtype=float)
    return pd.concat([runs, params, values], axis=1)


def summary_table(results: pd.DataFrame, parameters: list[str], metrics: list[str]) -> pd.DataFrame:
    """Per case and metric: n, mean, std and 95 % confidence interval over finished runs."""
    rows = []
    for case, runs in results.groupby("case", sort=True):
        ok = runs[runs["status"] == "ok"]
        first = runs.iloc[0]
        for metric in metrics:
            rows.append({"case": case, **{p: first[p] for p in parameters}, "metric": metric,
                         "runs": len(ok), "failed": int((runs["status"] != "ok").sum()),
                         **mean_ci(ok[metric].to_numpy())})
    columns = ["case", *parameters, "metric", "runs", "failed", "n", "mean", "std", "ci95", "ci95_low",
               "ci95_high"]
    out = pd.DataFrame(rows, columns=columns)
    for p in parameters:
        out[p] = out[p].astype(results[p].dtype) if len(out) else out[p]
    return out
