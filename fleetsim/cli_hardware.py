"""``fleetsim hardware``: list, show, predict and validate the hardware models; measure this machine
and calibrate a device file on measured points."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from fleetsim.cli_shared import _catalog, _user_errors, fmt, stdout, table
from fleetsim.errors import FleetsimError

hardware = typer.Typer(no_args_is_help=True, help="Hardware models in hardware_models/.")
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
Wide = Annotated[bool, typer.Option("--wide", help="Every column (wider than 80 characters).")]


@hardware.command("list")
def hardware_list() -> None:
    """List device ids with their kind and name."""
    with _user_errors():
        catalog = _catalog()
    devices = table("id", "kind", "class", "precisions", "name")
    for device_id in catalog.device_ids():
        d = catalog.devices[device_id]
        devices.add_row(d.id, d.kind, d.accelerator_class, " ".join(d.peak), escape(d.name))
    stdout.print(devices)


@hardware.command("show")
def hardware_show(item: Annotated[str, typer.Argument(help="Device or workload id.")],
                  as_json: AsJson = False) -> None:
    """Every field of a device or workload file, with its source."""
    with _user_errors():
        catalog = _catalog()
        spec = catalog.workloads.get(item) or catalog.device(item)
    data = spec.model_dump(mode="json")
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    fields = table("field", "value", "source", title=escape(f"{item}: {data['name']}"), lines=True)
    for key, value in data.items():
        for name, entry in _flatten(key, value):
            if isinstance(entry, dict) and "value" in entry and "source" in entry:
                fields.add_row(name, escape(str(entry["value"])), escape(entry["source"]))
            elif isinstance(entry, dict) and "workload" in entry:
                figure = entry["latency"] or entry["throughput"]
                point = f"{entry['workload']} {entry['precision']} {figure} ({entry['scope']})"
                fields.add_row(name, escape(point), escape(entry["source"]))
            else:
                fields.add_row(name, escape(str(entry)), "")
    stdout.print(fields)


def _flatten(key: str, value):
    """(name, leaf) pairs; sourced numbers and measurement points are leaves."""
    if isinstance(value, dict) and not ({"value", "source"} <= value.keys()):
        for k, v in value.items():
            yield from _flatten(f"{key}.{k}", v)
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        for i, v in enumerate(value):
            yield from _flatten(f"{key}[{i}]", v)
    else:
        yield key, value


@hardware.command("predict")
def hardware_predict(
    device: Annotated[str, typer.Argument(help="Device id.")],
    workload: Annotated[str, typer.Argument(help="Workload id, or a path to an .onnx file.")],
    precision: Annotated[str | None, typer.Option(help="int8, fp16, bf16 or fp32 (default: int8 if "
                                                  "calibrated, else the device's first).")] = None,
    batch: Annotated[int, typer.Option(min=1, help="Inferences per call.")] = 1,
    throttled: Annotated[bool, typer.Option(
        help="At the device's sustained (thermally throttled) speed.")] = False,
    as_json: AsJson = False,
) -> None:
    """Predicted latency and energy of one call of WORKLOAD on DEVICE (per-layer roofline)."""
    from fleetsim.hardware.graph import workload_from_graph
    from fleetsim.hardware.inference import calibrated_precisions, inference_cost

    with _user_errors():
        catalog = _catalog()
        spec = catalog.device(device)
        if throttled and spec.thermal is None:
            with_thermal = [d for d in catalog.device_ids() if catalog.devices[d].thermal is not None]
            raise FleetsimError(f"--throttled: {device} has no thermal figures in its file, so it has no "
                                f"sustained speed to price (devices with them: {', '.join(with_thermal)})")
        if workload.endswith(".onnx"):
            path = Path(workload)
            if not path.is_file():
                raise FleetsimError(f"{workload}: no such ONNX file (WORKLOAD is a workload id or an "
                                    ".onnx path)")
            costed = workload_from_graph(path)
        else:
            costed = catalog.profile(workload)
        usable = calibrated_precisions(spec)
        chosen = precision or ("int8" if "int8" in usable else (usable or sorted(spec.peak))[0])
        cost = inference_cost(spec, costed, chosen, catalog, batch=batch, throttled=throttled)
    result = {"device": device, "workload": workload, "precision": chosen, "batch": batch,
              "calibrated": chosen in usable, "throttled": throttled,
              "macs": costed.macs, "per_layer": costed.per_layer, "layers": len(costed.layers),
              "latency_ms": cost.latency_s * 1e3, "energy_mj": cost.energy_j * 1e3,
              "throughput_fps": batch / cost.latency_s, "efficiency": cost.efficiency,
              "layers_ms": cost.layers_s * 1e3, "memory_bound_layers": cost.memory_bound_layers,
              "overhead_ms": cost.overhead_s * 1e3, "transfer_ms": cost.transfer_s * 1e3,
              "spill_ms": cost.spill_s * 1e3, "fallback_ms": cost.fallback_s * 1e3,
              "fallback_layers": cost.fallback_layers}
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    rows = table("quantity", "value", right=("value",), title=escape(f"{workload} on {device} ({chosen}, "
                                                                  f"batch {batch})"))
    for key, value in result.items():
        rows.add_row(key, escape(fmt(value)))
    stdout.print(rows)


@hardware.command("validate")
def hardware_validate(as_json: AsJson = False, wide: Wide = False) -> None:
    """Predicted vs published latency of every measurement point, with leave-one-out errors,
    the points kept out of the fit and why, and where each device still misses."""
    from fleetsim.hardware.calibration import validate_catalog

    with _user_errors():
        report = validate_catalog(_catalog())
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    numbers = ("published ms", "predicted ms", "error", "LOO error")
    points = table("device / workload", *(("prec", "kind") if wide else ()), *numbers, right=numbers,
                   title="ms per inference (latency / batch, or 1 / throughput)",
                   caption="* published totals only (no per-layer profile); (p): pipeline timing, host "
                           "work included; error: predicted vs published; LOO: with the point left out "
                           "of the fit" + ("" if wide else "; --wide adds precision and kind"))
    device = None
    for p in report["points"]:
        if p["kind"] == "excluded":
            continue
        if p["device"] != device:
            device = p["device"]
            points.add_section()
            points.add_row(f"[bold]{device}[/bold]")
        loo = "-" if p["loo_error"] is None else f"{p['loo_error']:+.0%}"
        name = ("  " + p["workload"] + ("" if p["per_layer"] else " *")
                + ("" if p["scope"] == "model" else " (p)"))
        extra = (p["precision"], p["kind"]) if wide else ()
        points.add_row(escape(name), *extra, fmt(p["published_ms"], 3), fmt(p["predicted_ms"], 3),
                       f"{p['error']:+.0%}", loo)
    stdout.print(points)
    excluded = [p for p in report["points"] if p["kind"] == "excluded"]
    if excluded:
        kept_out = table("device / workload", "published ms", "predicted ms", "why not fitted or scored",
                         right=("published ms", "predicted ms"), lines=True,
                         title="excluded: kept, predicted, outside the fit and every score")
        for p in excluded:
            kept_out.add_row(escape(f"{p['device']} {p['workload']} {p['precision']}"),
                             fmt(p["published_ms"], 3), fmt(p["predicted_ms"], 3), escape(p["excluded"]))
        stdout.print(kept_out)
    heads = ("fit points", "LOO median", "LOO worst", "check points", "check median", "check worst")
    devices = table("device", *heads, right=heads, title="per device: |error| of the points",
                    caption="LOO: each calibration point left out of the fit in turn; check: validation "
                            "points, never fitted on; worst: the largest predicted / published factor")
    notes = table("device", "where and why it still misses", title="per-device notes", lines=True)
    for name, d in report["devices"].items():
        if d.get("note"):
            notes.add_row(name, escape(d["note"]))
        if "problem" in d:
            devices.add_row(name, escape(d["problem"]), "", "", "", "", "")
            continue
        devices.add_row(name, str(d["calibration_points"]), _pct(d["loo_median_abs_error"]),
                        _factor(d["loo_worst_ratio"]), str(d["validation_points"]),
                        _pct(d["validation_median_abs_error"]), _factor(d["validation_worst_ratio"]))
    stdout.print(devices)
    if notes.row_count:
        stdout.print(notes)
    overall = report["overall"]
    stdout.print(f"leave-one-out: {overall['loo_points']} points, median |error| "
                 f"{_pct(overall['loo_median_abs_error'])}, worst factor "
                 f"{_factor(overall['loo_worst_ratio'])}; "
                 f"validation: {overall['validation_points']} points, median |error| "
                 f"{_pct(overall['validation_median_abs_error'])}, worst factor "
                 f"{_factor(overall['validation_worst_ratio'])} "
                 f"(model scope only: {overall['validation_model_scope_points']} points, median "
                 f"{_pct(overall['validation_model_scope_median_abs_error'])}, worst "
                 f"{_factor(overall['validation_model_scope_worst_ratio'])}); "
                 f"excluded: {overall['excluded_points']} points", highlight=False, markup=False)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _factor(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}x"


@hardware.command("measure")
def hardware_measure(
    workloads: Annotated[str | None, typer.Option(help="Comma-separated workload ids (default: every "
                                                  "reference architecture).")] = None,
    precisions: Annotated[str, typer.Option(help="Comma-separated: fp32, int8.")] = "fp32,int8",
    repeats: Annotated[int, typer.Option(min=1, help="Timed runs per graph (the median is kept).")] = 20,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed runs before them.")] = 3,
    threads: Annotated[int, typer.Option(min=1, help="ORT intra-op threads (1: least sensitive to other "
                                         "load; timed by CPU time).")] = 1,
    provider: Annotated[str, typer.Option(help="ORT execution provider: cpu, cuda or tensorrt.")] = "cpu",
    device: Annotated[str, typer.Option(help="Name written in the device column.")] = "this machine",
    out: Annotated[Path, typer.Option(help="Model-level points CSV (per-node times go beside it, "
                                      "<stem>_layers.csv).")] = Path("measured.csv"),
) -> None:
    """Run reference workloads' ONNX graphs (random weights; int8 by static QDQ) with ONNX Runtime on
    this machine, with per-node profiling; write measured points for `fleetsim hardware calibrate`."""
    from fleetsim.tools.architectures import architecture_ids
    from fleetsim.tools.measure import measure, write_points

    with _user_errors():
        names = workloads.split(",") if workloads else architecture_ids()
        machine, points = measure(names, precisions.split(","), repeats, warmup, threads, provider,
                                  on_point=lambda p: typer.echo(f"{p.workload} {p.precision}: "
                                                                f"{p.seconds * 1e3:.2f} ms", err=True))
        written = write_points(machine, points, out, repeats, warmup, device)
    typer.echo(f"{machine.cpu} ({machine.isa}), {machine.threads} thread(s), {machine.provider}, load "
               f"{machine.load_1min:.2f}: {len(points)} points")
    for path in written:
        typer.echo(f"wrote {path}")


@hardware.command("calibrate")
def hardware_calibrate(
    device_file: Annotated[Path, typer.Argument(help="Device YAML (peaks, power, ...; like "
                                                "hardware_models/edge/*.yaml).", show_default=False)],
    points: Annotated[Path, typer.Argument(help="Measured points CSV (workload, precision, measured[, "
                                           "source, batch]), e.g. from fleetsim hardware measure.",
                                           show_default=False)],
    out: Annotated[Path | None, typer.Option(help="Fitted device file (default: DEVICE_FILE with "
                                             "_fitted before .yaml).")] = None,
    as_json: AsJson = False,
) -> None:
    """Fit DEVICE_FILE to measured POINTS (the device class prior fills what they cannot pin down),
    print in-sample and leave-one-workload-out errors and write the fitted device file."""
    from fleetsim.hardware.calibrate import (
        calibrate,
        median_abs_error,
        read_device,
        read_points,
        worst_factor,
        write_device,
    )

    with _user_errors():
        catalog = _catalog()
        device = read_device(device_file)
        fitted = calibrate(device, read_points(points), catalog)
        target = out or device_file.with_name(f"{device_file.stem}_fitted.yaml")
        write_device(device_file, fitted, target)
    held = {(h.workload, h.precision): h for h in fitted.held_out}
    rows = [{"workload": h.workload, "precision": h.precision, "measured_ms": h.measured_s * 1e3,
             "fitted_ms": h.predicted_s * 1e3, "error": h.error,
             "loo_ms": held[h.workload, h.precision].predicted_s * 1e3 if held else None,
             "loo_error": held[h.workload, h.precision].error if held else None} for h in fitted.in_sample]
    summary = {"device": fitted.device.id, "points": len(rows), "written": str(target),
               "in_sample_median_abs_error": median_abs_error(fitted.in_sample),
               "in_sample_worst_ratio": worst_factor(fitted.in_sample),
               "loo_median_abs_error": median_abs_error(fitted.held_out) if held else None,
               "loo_worst_ratio": worst_factor(fitted.held_out) if held else None}
    if as_json:
        typer.echo(json.dumps({**summary, "rows": rows}, indent=2))
        return
    numbers = ("measured ms", "fitted ms", "error", "left-out ms", "LOO error")
    points_table = table("workload", "prec", *numbers, right=numbers,
                         title=f"{fitted.device.id}: fitted on every point, and without each workload's")
    for r in rows:
        points_table.add_row(r["workload"], r["precision"], f"{r['measured_ms']:.3g}",
                             f"{r['fitted_ms']:.3g}", f"{r['error']:+.0%}",
                             "-" if r["loo_ms"] is None else f"{r['loo_ms']:.3g}",
                             "-" if r["loo_error"] is None else f"{r['loo_error']:+.0%}")
    stdout.print(points_table)
    typer.echo(f"in-sample: median |error| {_pct(summary['in_sample_median_abs_error'])}, worst "
               f"{_factor(summary['in_sample_worst_ratio'])}; leave-one-workload-out: median |error| "
               f"{_pct(summary['loo_median_abs_error'])}, worst {_factor(summary['loo_worst_ratio'])}; "
               f"wrote {target}")
