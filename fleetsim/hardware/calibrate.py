"""Fit a user's device file to their own measured points (``fleetsim hardware calibrate``).

The points are a CSV with a ``workload`` (an id from ``hardware_models/workloads/``), a
``precision`` and a ``measured`` time per inference (``"12.3 ms"``), and optionally a
``source`` and a ``batch``: what ``fleetsim hardware measure`` writes, or any table of the
same columns. They become the device's ``calibration`` points (replacing any it has at the
same workload and precision) and the device is fitted on them as every catalog device is
(:mod:`fleetsim.hardware.fit`): parameters the points cannot pin down come from the priors,
and a precision without points from what the other devices of its accelerator class reach
there. The errors reported are in-sample (fitted on every point) and leave-one-workload-out
(fitted without the workload's points, at every precision).

>>> board = read_device("my_board.yaml")                                      # doctest: +SKIP
>>> fitted = calibrate(board, read_points("points.csv"), load_catalog())      # doctest: +SKIP
>>> write_device("my_board.yaml", fitted, "my_board_fitted.yaml")             # doctest: +SKIP
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from pydantic import ValidationError

from fleetsim.errors import FleetsimError, ScenarioError
from fleetsim.hardware.catalog import Catalog
from fleetsim.hardware.fit import class_prior, fit_points, point_terms
from fleetsim.hardware.roofline import evaluate
from fleetsim.hardware.specs import CalibrationPoint, DeviceSpec
from fleetsim.scenario.validation import validate_document
from fleetsim.scenario.yamlfile import read_yaml

REQUIRED_COLUMNS = ("workload", "precision", "measured")


def read_points(path: Path | str) -> list[CalibrationPoint]:
    """The measured points in the CSV at ``path``, or one clear error naming the row and column."""
    path = Path(path)
    if not path.is_file():
        raise FleetsimError(f"{path}: no such points file (a CSV with columns {', '.join(REQUIRED_COLUMNS)})")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise FleetsimError(f"{path}: missing column(s) {', '.join(missing)} (allowed: a CSV with "
                                f"columns {', '.join(REQUIRED_COLUMNS)}, and optionally source, batch)")
        points = []
        for line, row in enumerate(reader, start=2):
            fields = {"workload": row["workload"], "precision": row["precision"], "latency": row["measured"],
                      "source": row.get("source") or f"measured, {path.name} line {line}"}
            if row.get("batch"):
                fields["batch"] = row["batch"]
            try:
                points.append(CalibrationPoint.model_validate(fields))
            except ValidationError as err:
                first = err.errors(include_url=False)[0]
                field = str(first["loc"][0]) if first["loc"] else ""
                column = {"latency": "measured"}.get(field, field)
                raise FleetsimError(f"{path}:{line}: {column}: {first['msg']} (got {row.get(column, '')!r}; "
                                    "allowed: a workload id, int8/fp16/bf16/fp32, a time such as '12.3 ms')"
                                    ) from None
    if not points:
        raise FleetsimError(f"{path}: no points (one row per workload and precision measured)")
    return points


def read_device(path: Path | str) -> DeviceSpec:
    """The device file at ``path``, validated as a catalog device is."""
    path = Path(path)
    if not path.is_file():
        raise FleetsimError(f"{path}: no such device file (a YAML file like hardware_models/edge/*.yaml)")
    return validate_document(DeviceSpec, read_yaml(path, what="device file"))


@dataclass(frozen=True)
class HeldOut:
    """One workload's measured and predicted seconds per inference at one precision."""

    workload: str
    precision: str
    measured_s: float
    predicted_s: float

    @property
    def error(self) -> float:
        return self.predicted_s / self.measured_s - 1


def leave_one_workload_out(device: DeviceSpec, catalog: Catalog) -> list[HeldOut]:
    """Fit ``device`` without each workload's calibration points and predict that workload's."""
    terms = [point_terms(device, p, catalog) for p in device.calibration if p.excluded is None]
    prior = class_prior(device, catalog)
    held = []
    for workload in sorted({t.point.workload for t in terms}):
        fit = fit_points(device, [t for t in terms if t.point.workload != workload], class_efficiency=prior)
        held += [HeldOut(workload, t.point.precision, t.point.seconds_per_inference,
                         t.seconds_per_inference(evaluate(device, t.terms, fit), fit))
                 for t in terms if t.point.workload == workload]
    return held


def median_abs_error(held: list[HeldOut]) -> float:
    return float(np.median([abs(h.error) for h in held]))


def worst_factor(held: list[HeldOut]) -> float:
    """Largest factor between predicted and measured."""
    return float(max(max(h.predicted_s / h.measured_s, h.measured_s / h.predicted_s) for h in held))


@dataclass(frozen=True)
class Calibrated:
    """A device with its measured points and how well the fit predicts them."""

    device: DeviceSpec
    in_sample: list[HeldOut]  # every point predicted by the fit on all of them
    held_out: list[HeldOut]  # every point predicted by the fit without its workload

    def note(self) -> str:
        """The errors in one sentence (written as the device's ``calibration_note``)."""
        text = (f"fitted by fleetsim hardware calibrate on {len(self.in_sample)} points of "
                f"{len({h.workload for h in self.in_sample})} workloads: in-sample median |error| "
                f"{median_abs_error(self.in_sample):.0%} (worst {worst_factor(self.in_sample):.2f}x)")
        if self.held_out:
            text += (f", leave-one-workload-out median {median_abs_error(self.held_out):.0%} "
                     f"(worst {worst_factor(self.held_out):.2f}x)")
        return text


def calibrate(device: DeviceSpec, points: list[CalibrationPoint], catalog: Catalog) -> Calibrated:
    """``device`` with ``points`` as calibration points (replacing its own at the same workload and
    precision), fitted, with in-sample and leave-one-workload-out errors."""
    for i, p in enumerate(points):
        where = f"{device.id}: point {i + 1} ({p.workload}, {p.precision})"
        if p.workload not in catalog.workloads:
            raise FleetsimError(f"{where}: unknown workload (allowed: "
                                f"{', '.join(sorted(catalog.workloads))})")
        if p.precision not in device.peak:
            raise FleetsimError(f"{where}: the device file has no peak at {p.precision} "
                                f"(allowed: {', '.join(device.peak)}; add a peak for it)")
    new = {(p.workload, p.precision) for p in points}
    kept = [p for p in device.calibration if (p.workload, p.precision) not in new]
    fitted = device.model_copy(update={"calibration": [*kept, *points]})
    terms = [point_terms(fitted, p, catalog) for p in fitted.calibration if p.excluded is None]
    fit = fit_points(fitted, terms, class_efficiency=class_prior(fitted, catalog))
    in_sample = [HeldOut(t.point.workload, t.point.precision, t.point.seconds_per_inference,
                         t.seconds_per_inference(evaluate(fitted, t.terms, fit), fit)) for t in terms]
    held_out = leave_one_workload_out(fitted, catalog) if len({t.point.workload for t in terms}) > 1 else []
    return Calibrated(fitted, in_sample, held_out)


def write_device(source: Path | str, calibrated: Calibrated, out: Path | str) -> Path:
    """Write the device file at ``source`` to ``out`` with the calibrated points and a
    ``calibration_note`` holding the errors (the file's own points it keeps and every other field as
    written, comments dropped)."""
    data = yaml.safe_load(Path(source).read_text())
    own = read_device(source).calibration  # index-aligned with the file's own entries
    kept = [entry for entry, point in zip(data.get("calibration") or [], own, strict=True)
            if point in calibrated.device.calibration]
    added = [p for p in calibrated.device.calibration if p not in own]
    data["calibration"] = [*kept, *(_point_yaml(p) for p in added)]
    data["calibration_note"] = calibrated.note()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100))
    try:
        read_device(out)
    except ScenarioError as err:  # pragma: no cover - a round trip of what was validated
        raise FleetsimError(f"{out}: the written file does not validate ({err})") from None
    return out


def _point_yaml(point: CalibrationPoint) -> dict:
    data = {"workload": point.workload, "precision": point.precision}
    if point.latency is not None:
        data["latency"] = f"{point.latency * 1e3:.8g} ms"
    else:
        data["throughput"] = f"{point.throughput:.8g} fps"
    for name in ("batch", "host", "excluded"):
        if getattr(point, name) is not None:
            data[name] = getattr(point, name)
    data["source"] = point.source
    return data
