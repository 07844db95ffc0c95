"""Compare the four "where to train, where to infer" strategies and say which wins on what.

    python scenarios/strategies/table.py            # read out/strategies/<name>/ (saved runs)
    python scenarios/strategies/table.py --run      # first run the strategies without a saved run
    python scenarios/strategies/table.py DIR        # another folder of runs

The same fleet, workload, network and world run with four hardware choices (the scenario
files beside this one). Each run gives one row of figures (``figures``); ``winners`` ranks
the strategies per metric from those figures only, with ties and missing figures (None, e.g.
a fleet with unpriced hardware) kept apart; ``markdown`` prints both. notebooks/05_strategies
loads this file and calls the same functions on in-memory results.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fleetsim.report.run_folder import load_run

HERE = Path(__file__).resolve().parent
STRATEGIES = ("cpu_cpu", "tpu_train_gpu_edge", "gpu_gpu", "gpu_train_edgetpu")
DEFAULT_OUT = Path("out/strategies")
TIE_REL_TOL = 1e-9
"""Figures this close (relatively) tie: only float noise, never a real difference, is forgiven."""


@dataclass(frozen=True)
class Metric:
    """One compared figure: its key in ``figures``, header, direction and number format."""

    key: str
    label: str
    better: str  # "lower" or "higher"
    fmt: str


METRICS = (
    Metric("training_s", "training time per job, s", "lower", ".1f"),
    Metric("cloud_kj", "cloud energy, kJ", "lower", ".2f"),
    Metric("cloud_usd", "cloud USD", "lower", ".4f"),
    Metric("p99_ms", "edge p99, ms", "lower", ".2f"),
    Metric("miss_rate", "deadline miss rate", "lower", ".4f"),
    Metric("mj_per_frame", "edge mJ/frame", "lower", ".1f"),
    Metric("fleet_usd", "fleet hardware USD", "lower", ".2f"),
    Metric("map50", "mAP@0.5", "higher", ".4f"),
)


@dataclass(frozen=True)
class Winner:
    """The best strategies on one metric (several when they tie) and who could not be ranked."""

    metric: Metric
    best: tuple[str, ...]
    value: float | None
    runner_up: tuple[str, ...]
    runner_up_value: float | None
    unranked: tuple[str, ...]


def describe(scenario: Mapping) -> dict[str, str]:
    """Where a (dumped or resolved) scenario trains and infers, e.g. ``{"trains on": "a100", ...}``."""
    groups = scenario["fleet"]["groups"]
    edge = sorted({f"{g['accelerator']} {g.get('precision', 'int8')}" for g in groups})
    clusters = scenario["cloud"]["clusters"]
    pools = [c.get("device") or "+".join(p["device"] for p in c["pools"]) for c in clusters]
    return {"trains on": ", ".join(pools), "infers on": ", ".join(edge)}


def figures(summary: Mapping, training_jobs: pd.DataFrame) -> dict[str, float | int | None]:
    """The compared figures of one run from its summary and its training_jobs table."""
    rt = summary["retraining"]
    job_s = (training_jobs["t_end_s"] - training_jobs["t_submit_s"]) if len(training_jobs) else None
    return {
        "jobs": rt["jobs"],
        "deployments": rt["deployments"],
        "rollbacks": rt["rollbacks"],
        "training_s": None if job_s is None else float(job_s.mean()),
        "cloud_kj": rt["cloud_energy_j"] / 1e3,
        "cloud_kwh": rt["cloud_kwh"],
        "cloud_usd": rt["cloud_cost_usd"],
        "p99_ms": summary["latency_ms"]["p99"],
        "miss_rate": summary["latency_ms"]["deadline_miss_rate"],
        "mj_per_frame": summary["energy"]["per_frame_mj"],
        "fleet_usd": summary["hardware"]["fleet_usd"],
        "accelerator_usd": summary["hardware"]["accelerator_usd"],
        "unpriced": ", ".join(summary["hardware"]["unpriced"]) or "-",
        "map50": summary["accuracy"]["map50_mean"],
        "wall_s": summary["run"]["wall_s"],
    }


def _known(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _ties(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=TIE_REL_TOL, abs_tol=0.0)


def winner(rows: Mapping[str, Mapping], metric: Metric) -> Winner:
    """Rank ``rows`` (strategy -> figures) on ``metric``; strategies without the figure are unranked."""
    known = {name: float(row[metric.key]) for name, row in rows.items() if _known(row.get(metric.key))}
    unranked = tuple(name for name in rows if name not in known)
    sign = 1.0 if metric.better == "lower" else -1.0
    levels: list[tuple[float, list[str]]] = []
    for name, value in sorted(known.items(), key=lambda kv: sign * kv[1]):
        if levels and _ties(levels[-1][0], value):
            levels[-1][1].append(name)
        else:
            levels.append((value, [name]))
    best, second = (levels + [(None, []), (None, [])])[:2]
    return Winner(metric, tuple(best[1]), best[0], tuple(second[1]), second[0], unranked)


def winners(rows: Mapping[str, Mapping], metrics=METRICS) -> list[Winner]:
    """One ``Winner`` per metric."""
    return [winner(rows, m) for m in metrics]


def _cell(value, fmt: str) -> str:
    return format(value, fmt) if _known(value) else "n/a"


def table_markdown(rows: Mapping[str, Mapping], where: Mapping[str, Mapping], metrics=METRICS) -> str:
    """The comparison as a markdown table, one row per strategy."""
    wall = all("wall_s" in row for row in rows.values())  # stored figures leave host wall time out
    header = ["strategy", "trains on", "infers on", "jobs", "deployed", "rolled back",
              *(m.label for m in metrics), "unpriced", *(["wall, s"] if wall else [])]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, row in rows.items():
        cells = [name, where[name]["trains on"], where[name]["infers on"], str(row["jobs"]),
                 str(row["deployments"]), str(row["rollbacks"]), *(_cell(row[m.key], m.fmt) for m in metrics),
                 row["unpriced"], *([_cell(row["wall_s"], ".0f")] if wall else [])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ratio(w: Winner) -> str:
    if not (_known(w.value) and _known(w.runner_up_value)) or w.value == 0:
        return ""
    ratio = w.runner_up_value / w.value if w.metric.better == "lower" else w.value / w.runner_up_value
    return f", {ratio:.2f}x" if ratio > 0 else ""


def winner_line(w: Winner) -> str:
    """One sentence: who is best on the metric, by how much against the next, and who is unranked."""
    if not w.best:
        return f"- {w.metric.label}: no strategy has this figure"
    tie = " (tie)" if len(w.best) > 1 else ""
    text = f"- {w.metric.label} ({w.metric.better} is better): {' = '.join(w.best)}{tie}, " \
           f"{_cell(w.value, w.metric.fmt)}"
    if w.runner_up:
        text += f"; next {' = '.join(w.runner_up)}, {_cell(w.runner_up_value, w.metric.fmt)}{_ratio(w)}"
    if w.unranked:
        text += f"; not ranked (figure missing): {', '.join(w.unranked)}"
    return text


def markdown(rows: Mapping[str, Mapping], where: Mapping[str, Mapping], metrics=METRICS) -> str:
    """The table and, per metric, the winner."""
    lines = "\n".join(winner_line(w) for w in winners(rows, metrics))
    return f"{table_markdown(rows, where, metrics)}\n\nWinners, from the figures above:\n\n{lines}"


def read_run(run_dir: Path) -> tuple[dict, dict]:
    """(figures, where it trains and infers) of one saved run folder."""
    run = load_run(run_dir)
    return figures(run.summary, run.table("training_jobs")), describe(run.scenario)


def run_missing(out: Path, names=STRATEGIES) -> None:
    """Run each strategy that has no saved run under ``out`` and save it there."""
    import fleetsim  # only here: reading saved runs needs no simulator

    for name in names:
        if not (out / name / "summary.json").exists():
            start = time.perf_counter()
            fleetsim.run(HERE / f"{name}.yaml").save(out / name)
            print(f"ran {name} in {time.perf_counter() - start:.0f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT, help="folder of runs")
    parser.add_argument("--run", action="store_true", help="run the strategies without a saved run first")
    args = parser.parse_args(argv)
    if args.run:
        run_missing(args.out)
    names = [n for n in STRATEGIES if (args.out / n / "summary.json").exists()]
    if not names:
        raise SystemExit(f"no saved runs under {args.out}; run with --run")
    read = {n: read_run(args.out / n) for n in names}
    print(markdown({n: r[0] for n, r in read.items()}, {n: r[1] for n, r in read.items()}))


if __name__ == "__main__":
    main()
