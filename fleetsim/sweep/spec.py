"""The sweep file: a base scenario, what to vary, how often to repeat, what to measure.

.. code-block:: yaml

    base: quick_base.yaml            # scenario file, relative to this sweep file
    grid:                            # cartesian product of every listed value
      fleet.groups[0].accelerator: [coral_usb, jetson_orin_nano]
      fleet.groups[0].cameras[0].fps: [15 Hz, 30 Hz]
    cases:                           # and/or an explicit list of override sets
      - {detector.detect_every: 60}
      - {detector.detect_every: 240}
    replications: 2                  # runs per case, each with its own derived seed
    seed: 7                          # root of the derived seeds
    metrics: [latency_ms.p99, energy.per_frame_mj, groups.town.latency_ms.p99]

With both ``grid`` and ``cases`` every case is combined with every grid point (a case
and the grid may not set the same path); with neither the base scenario alone is
replicated. ``metrics`` are dotted summary.json keys (docs/results.md); the default
is :data:`DEFAULT_METRICS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt

from fleetsim.errors import Issue, ScenarioError
from fleetsim.metrics.columns import SUMMARY_KEYS
from fleetsim.scenario.validation import validate_document
from fleetsim.scenario.yamlfile import YamlDocument, read_yaml
from fleetsim.sweep.overrides import OverrideError, canonical

DEFAULT_METRICS: tuple[str, ...] = (
    "latency_ms.p50", "latency_ms.p99", "latency_ms.deadline_miss_rate", "frames.dropped",
    "energy.per_frame_mj", "energy.radio_j", "accuracy.map50_mean", "network.uploaded_bytes",
    "retraining.jobs", "retraining.cloud_cost_usd",
)
"""Metrics collected when the sweep file names none."""

_NON_NUMERIC = {"run.scenario", "run.mode", "labeling.labeler", "groups.<name>.placement"}
_MAPPINGS = {"accuracy.map50_by_condition", "accuracy.map50_by_version", "samples.by_condition"}
_GROUP_SECTIONS = ("frames", "latency_ms", "energy", "faults", "privacy")


def metric_problem(metric: str) -> str | None:
    """Why ``metric`` is not a numeric summary key, or None if it is one."""
    parts = metric.split(".")
    if parts[0] == "groups":
        if len(parts) < 3 or not parts[1]:
            return (f"{metric!r}: a group metric is groups.<name>.<section>.<field>, "
                    f"e.g. groups.town.latency_ms.p99")
        rest = ".".join(parts[2:])
        if rest == "placement":
            return f"{metric!r} is not a number"
        if parts[2] not in _GROUP_SECTIONS or rest not in SUMMARY_KEYS:
            return (f"{metric!r}: unknown group metric (allowed: groups.<name>. followed by a key of "
                    f"{', '.join(_GROUP_SECTIONS)} such as latency_ms.p99)")
        return None
    if metric in _NON_NUMERIC:
        return f"{metric!r} is not a number"
    if metric in SUMMARY_KEYS:
        return None
    if any(metric.startswith(m + ".") for m in _MAPPINGS):
        return None
    if metric in _MAPPINGS:
        return f"{metric!r} is a mapping; name one entry, e.g. {metric}.<label>"
    return (f"unknown metric {metric!r} (allowed: a numeric summary.json key from docs/results.md, "
            f"e.g. latency_ms.p99, accuracy.map50_mean, groups.<name>.latency_ms.p99)")


def _check_metrics(metrics: list[str]) -> list[str]:
    problems = [p for m in metrics if (p := metric_problem(m))]
    if problems:
        raise ValueError("; ".join(problems))
    if len(set(metrics)) != len(metrics):
        raise ValueError("metrics listed more than once (each metric once)")
    return metrics


def _check_paths(mapping: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, value in mapping.items():
        try:
            key = canonical(path)
        except OverrideError as err:
            raise ValueError(str(err)) from None
        if key in out:
            raise ValueError(f"path {key} given twice (spelled differently)")
        if key == "simulation.seed":
            raise ValueError("simulation.seed cannot be swept: every run's seed is derived from the "
                             "sweep's seed (allowed: set seed: and replications: instead)")
        out[key] = value
    return out


def _check_grid(grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
    problems = [f"grid.{path}: no values (allowed: a list of at least one value)"
                for path, values in grid.items() if not values]
    try:
        grid = _check_paths(grid)
    except ValueError as err:
        problems.append(str(err))
    if problems:
        raise ValueError("; ".join(problems))
    return grid


class SweepSpec(BaseModel):
    """A parameter sweep over one base scenario."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base: str = Field(description="Base scenario file, relative to the sweep file.")
    grid: Annotated[dict[str, list[Any]], AfterValidator(_check_grid)] = Field(
        default_factory=dict, description="Dotted path -> list of values; every combination runs.")
    cases: list[Annotated[dict[str, Any], AfterValidator(_check_paths)]] = Field(
        default_factory=list, description="A list of override sets, each {dotted path: value}.")
    replications: PositiveInt = Field(1, description="Runs per case, each with its own derived seed.")
    seed: NonNegativeInt = Field(0, description="Root of the derived run seeds.")
    metrics: Annotated[list[str], AfterValidator(_check_metrics)] = Field(
        default_factory=lambda: list(DEFAULT_METRICS), min_length=1,
        description="summary.json keys to collect, dotted.")


class SweepFile:
    """A validated sweep file with where it came from."""

    def __init__(self, spec: SweepSpec, doc: YamlDocument, path: Path):
        self.spec = spec
        self.doc = doc
        self.path = path
        self.base_path = (path.parent / spec.base) if not Path(spec.base).is_absolute() else Path(spec.base)

    @property
    def name(self) -> str:
        return self.path.stem

    def issue(self, where: tuple, message: str) -> Issue:
        """An Issue located at ``where`` in the sweep file."""
        from fleetsim.scenario.validation import dotted

        return Issue(self.doc.file, self.doc.line_of(where), dotted(where), message)


def load_sweep(path: str | Path) -> SweepFile:
    """Read and validate a sweep file; ScenarioError (FILE:LINE: field: message) on problems."""
    doc = read_yaml(path, what="sweep")
    spec = validate_document(SweepSpec, doc)
    sweep = SweepFile(spec, doc, Path(path))
    overlap = [(i, p) for i, case in enumerate(spec.cases) for p in case if p in spec.grid]
    if overlap:
        raise ScenarioError([sweep.issue(("cases", i), f"{p} is also swept by grid (set it in one place)")
                             for i, p in overlap])
    return sweep
