"""The ``fleetsim`` command: parse arguments, call the library, render the outcome.

Every failure ends in one line on stderr and an exit code (see ``EXIT_CODES``); ``--debug``
(or FLEETSIM_DEBUG=1) shows the traceback instead.
"""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Group
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import fleetsim.interrupts as interrupts
from fleetsim.cli_hardware import hardware
from fleetsim.cli_shared import (
    EXIT_CODES,
    INTERRUPTED,
    ProgressLines,
    _catalog,
    _user_errors,
    fmt,
    progress_bar,
    run_app,
    stderr,
    stdout,
    table,
)

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Simulate vehicle fleets running detectors on edge accelerators.\n\nExit codes: "
                  + ", ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items()) + ".")
ScenarioFile = Annotated[Path, typer.Argument(help="Scenario YAML file.", show_default=False)]
DeviceFiles = Annotated[list[Path] | None, typer.Option(
    "--device-file", help="A device YAML outside hardware_models/ (e.g. from fleetsim hardware calibrate) "
    "that the scenario may name by its id; repeatable.")]
app.add_typer(hardware, name="hardware")


@app.callback()
def _options(debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of a failure "
                                                 "(as FLEETSIM_DEBUG=1 does).")] = False) -> None:
    if debug:
        os.environ["FLEETSIM_DEBUG"] = "1"


@app.command()
def validate(file: ScenarioFile, device_file: DeviceFiles = None) -> None:
    """Check a scenario and its model file; print OK and the run's estimated cost, or each problem."""
    from fleetsim.estimate import available_bytes, estimate
    from fleetsim.scenario.loader import load_scenario

    with _user_errors():
        scenario = load_scenario(file, _catalog(device_file))
    vehicles = sum(g.count for g in scenario.fleet.groups)
    found, available = estimate(scenario), available_bytes()
    fits = "" if available is None or found.peak_bytes <= available else \
        " (more than this machine has available: fleetsim run refuses it without --force)"
    typer.echo(f"OK {file}: {vehicles} vehicles in {len(scenario.fleet.groups)} group(s), "
               f"{scenario.simulation.duration:g} s simulated; {found.line()}{fits}")


detector = typer.Typer(no_args_is_help=True, help="The real detector: build the baseline, evaluate models.")
app.add_typer(detector, name="detector")


@detector.command("build")
def detector_build(
    out: Annotated[Path | None, typer.Option(help="Folder for the models and model card "
                                             "(default: the shipped baseline or compressed folder).")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Training seed.")] = 1,
    variants: Annotated[str | None, typer.Option(
        help="Build compressed variants from the baseline recipe instead: 'all' or a comma-separated list "
        "(fp16, int8_per_tensor, int8_qat, pruned25_int8, pruned50_int8, pruned75_int8, "
        "student25_gt_int8, student25_kd_int8, student50_gt_int8, student50_kd_int8).")] = None,
) -> None:
    """Train the baseline on clear-day frames, export fp32/int8/pruned int8, write the model card;
    with --variants, build those compressed variants and score them with intervals."""
    if variants is not None:
        _build_variants(variants, out, seed)
        return
    from fleetsim.detector.baseline import BASELINE_DIR
    from fleetsim.detector.build import BuildSettings, build

    card = build(out if out is not None else BASELINE_DIR, BuildSettings(seed=seed),
                 report=lambda line: stderr.print(line))
    stdout.print(_card_tables(card))


def _card_tables(card: dict) -> Group:
    """The model card as two narrow tables: the variants' sizes, then mAP per condition."""
    names = list(card["variants"])
    sizes = table("variant", "MACs", "params", "file bytes", right=("MACs", "params", "file bytes"),
                  title="variants")
    for name, v in card["variants"].items():
        sizes.add_row(name, f"{v['macs']:,}", f"{v['params']:,}", f"{v['file_bytes']:,}")
    scores = table("condition", *names, right=tuple(names), title="mAP@0.5 per evaluation condition")
    for c in card["evaluation"]["conditions"]:
        scores.add_row(c, *(f"{card['variants'][n]['map50'][c]['map50']:.3f}" for n in names))
    return Group(sizes, scores)


def _build_variants(spec: str, out: Path | None, seed: int) -> None:
    from fleetsim.detector.compression import CompressionSettings, build_variants, parse_variants
    from fleetsim.detector.variants import COMPRESSED_DIR

    with _user_errors():
        names = parse_variants(spec)
    card = build_variants(names, out if out is not None else COMPRESSED_DIR, CompressionSettings(seed=seed),
                          report=lambda line: stderr.print(line))
    table = Table("variant", "prec", "MACs", "params", "bytes", "day_clear mAP [95%]")
    for name, v in card["variants"].items():
        s = v["map50"]["day_clear"]
        table.add_row(name, v["precision"], f"{v['macs']:,}", f"{v['params']:,}", f"{v['file_bytes']:,}",
                      f"{s['map50']:.3f} [{s['low']:.3f}, {s['high']:.3f}]")
    stdout.print(table)
    stdout.print(f"shipped variants: {card['shipped_bytes']:,} bytes")


@detector.command("frontier")
def detector_frontier(
    devices: Annotated[str, typer.Option(help="Comma-separated edge device ids.")]
    = "coral_usb,jetson_orin_nano,rpi5_cpu",
    condition: Annotated[str, typer.Option(help="Evaluation condition whose mAP is the accuracy axis.")]
    = "day_clear",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
    out: Annotated[Path | None, typer.Option(help="Also write frontier.json and one PNG per device here.")]
    = None,
) -> None:
    """Accuracy against latency and energy per frame of every compressed variant on each device,
    Pareto-optimal variants marked, and the variant to ship."""
    import json
    from dataclasses import asdict

    from fleetsim.detector.baseline import EVAL_CONDITIONS
    from fleetsim.detector.frontier import choice, frontier, lines, plot, read_card
    from fleetsim.errors import FleetsimError

    with _user_errors():
        if condition not in EVAL_CONDITIONS:
            raise FleetsimError(f"--condition: {condition!r}; allowed: {', '.join(EVAL_CONDITIONS)}")
        names = [d.strip() for d in devices.split(",") if d.strip()]
        points = frontier(read_card(), names, _catalog(), condition)
    report = {"condition": condition, "points": [asdict(p) for p in points],
              "ship": {d: choice(points, d).variant for d in names if any(p.device == d for p in points)}}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "frontier.json").write_text(json.dumps(report, indent=2) + "\n")
        plot(points, out, condition)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    typer.echo("\n".join(lines(points, condition)))


@detector.command("eval")
def detector_eval(
    model: Annotated[str, typer.Option(help="Baseline variant (int8, fp32, pruned_int8) or an .onnx path.")]
    = "int8",
    frames: Annotated[int, typer.Option(min=10, help="Frames per condition.")] = 400,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """mAP@0.5 of a model on every evaluation condition (rendered frames, known truth)."""
    import json

    from fleetsim.detector.baseline import evaluate
    from fleetsim.detector.registry import resolve_model
    from fleetsim.detector.runtime import OnnxDetector, model_precision

    with _user_errors():
        path = resolve_model(model, Path.cwd())
        scores = evaluate(OnnxDetector(path), frames)
    report = {"model": str(path), "precision": model_precision(path), "frames_per_condition": frames,
              "map50": {c: round(s["map50"], 4) for c, s in scores.items()},
              "ap50_by_class": {c: s["ap50"] for c, s in scores.items()}}
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    scores = table("condition", "mAP@0.5", right=("mAP@0.5",), title=f"{path.name} ({report['precision']})")
    for c, value in report["map50"].items():
        scores.add_row(c, f"{value:.3f}")
    stdout.print(scores)


@app.command()
def run(
    file: ScenarioFile,
    out: Annotated[Path | None, typer.Option(help="Output folder (default: out/<name>).")] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Override simulation.seed.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress (a bar on a terminal, else a "
                                        "line every few seconds on stderr).")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace a run already in --out, whole.")] = False,
    force: Annotated[bool, typer.Option(help="Run even if the estimated peak memory exceeds what is "
                                        "available.")] = False,
    device_file: DeviceFiles = None,
) -> None:
    """Run a scenario and write summary.json, tables, plots, report.html and the resolved scenario.

    The run folder appears only once complete (see fleetsim.runfolder); --out is checked and
    locked, and the run's size estimated, before anything is simulated.
    """
    from fleetsim.estimate import LONG_RUN_S, estimate, guard
    from fleetsim.runfolder import RunWriter, scenario_sha256, write_files
    from fleetsim.scenario.loader import load_scenario

    with _user_errors():
        catalog = _catalog(device_file)
        scenario = load_scenario(file, catalog)
        found = estimate(scenario)
        guard(scenario, found, force)
        if not quiet and found.wall_s > LONG_RUN_S:
            stderr.print(found.line(), highlight=False, soft_wrap=not progress_bar(quiet))
        writer = RunWriter(out if out is not None else Path("out") / scenario.name, overwrite=overwrite)
        folder = writer.out
        try:
            with writer:
                results = _simulate(file, scenario, found, seed, catalog, quiet)
                write_files(results, writer.path)
                writer.seal(scenario_sha256(writer.path))
                writer.publish()
            if scenario.outputs.plots:
                from fleetsim.report import write_report

                write_report(folder)
        except KeyboardInterrupt:
            if writer.published:  # the run folder is complete; its derived report may be missing
                missing = scenario.outputs.plots and not (folder / "report.html").exists()
                stderr.print(f"results written to {folder}" + (f", but not report.html (fleetsim report "
                             f"{folder} writes it)" if missing else ""),
                             markup=False, highlight=False, soft_wrap=True)
            raise
    stdout.print(_summary_table(results.summary, folder))
    typer.echo(f"results written to {folder}" + ("" if scenario.outputs.plots else
               f" (outputs.plots is false: no plots or report.html; fleetsim report {folder} writes one)"))


def _simulate(file: Path, scenario, found, seed: int | None, catalog, quiet: bool):
    """``fleetsim.run`` with its progress shown: a bar on a terminal, a line every few seconds otherwise."""
    import fleetsim
    from fleetsim.estimate import LONG_RUN_S

    show = progress_bar(quiet)
    lines = None if quiet or show else ProgressLines(scenario.name)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("{task.fields[sim]}"), TimeElapsedColumn(),
                  TextColumn("{task.fields[guess]}"),
                  console=stderr, disable=not show, transient=True) as bar:
        guess = f"(estimate {found.wall_text()})" if found.wall_s > LONG_RUN_S else ""
        task = bar.add_task(scenario.name, total=scenario.simulation.duration, sim="", guess=guess)

        def on_progress(now: float, total: float, last: bool = False) -> None:
            interrupts.raise_if_received()  # one that library code swallowed: the run stops here
            sim = f"{now / 3600:.2f}/{total / 3600:.2f} h"
            bar.update(task, completed=now, sim=f"{sim} sim")
            if lines is not None:
                lines.update(f"{sim} simulated", last)

        on_progress(0.0, scenario.simulation.duration)
        results = fleetsim.run(file, seed=seed, on_progress=on_progress, catalog=catalog)
        on_progress(scenario.simulation.duration, scenario.simulation.duration, last=True)
    return results


RunDir = Annotated[Path, typer.Argument(help="Run folder written by fleetsim run --out.", show_default=False)]


@app.command()
def report(
    run_dir: RunDir,
    out: Annotated[Path | None, typer.Option(help="HTML file (default: RUN_DIR/report.html).")] = None,
) -> None:
    """Write one self-contained HTML page about a saved run: summary, latency, energy, accuracy, network."""
    from fleetsim.report import write_report

    with _user_errors():
        page = write_report(run_dir, out)
    typer.echo(f"report written to {page}")


@app.command()
def compare(
    run_dirs: Annotated[list[Path], typer.Argument(help="Two or more run folders.", show_default=False)],
    out: Annotated[Path, typer.Option(help="HTML file.")] = Path("out") / "compare.html",
) -> None:
    """Put saved runs side by side in one HTML page: headline table, overlaid CDFs, energy, accuracy."""
    from fleetsim.report import write_comparison

    if len(run_dirs) < 2:
        typer.echo(f"compare needs at least two run folders (got {len(run_dirs)})", err=True)
        raise typer.Exit(2)
    with _user_errors():
        page = write_comparison(run_dirs, out)
    typer.echo(f"comparison of {len(run_dirs)} runs written to {page}")


@app.command()
def sweep(
    file: Annotated[Path, typer.Argument(help="Sweep YAML file (base, grid/cases, replications, seed, "
                                         "metrics).", show_default=False)],
    out: Annotated[Path | None, typer.Option(help="Output folder (default: out/sweeps/<name>).")] = None,
    backend: Annotated[str, typer.Option(help="Where runs execute: local (process pool) or ray.")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster to join (auto, HOST:PORT) "
                                                "(default: start a local Ray instance).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Parallel runs (default: CPU count); "
                                                "1 with local runs in this process.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress (a bar on a terminal, else a "
                                        "line every few seconds on stderr).")] = False,
    device_file: DeviceFiles = None,
) -> None:
    """Run a parameter sweep: every case validated first, finished runs skipped, results with 95 % CIs."""
    from fleetsim.sweep import load_sweep, make_backend, run_sweep
    from fleetsim.sweep.plan import describe

    with _user_errors():
        spec = load_sweep(file)
        folder = out if out is not None else Path("out") / "sweeps" / spec.name
        runner = make_backend(backend, workers=workers, address=address)
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                      TextColumn("{task.completed}/{task.total} runs"), TextColumn("{task.fields[failed]}"),
                      TimeElapsedColumn(), console=stderr, disable=not progress_bar(quiet)) as bar:
            task = bar.add_task(f"sweep {spec.name}", total=None, failed="")
            failures: list[str] = []
            lines = None if quiet or progress_bar(quiet) else ProgressLines(f"sweep {spec.name}")
            done = [0, 0]

            def on_start(todo: int, skipped: int) -> None:
                bar.update(task, total=todo)
                done[1] = todo
                if lines is not None:
                    lines.update(f"0/{todo} runs")
                if skipped:
                    bar.console.print(f"{skipped} finished run(s) in {folder} skipped")

            def on_result(run, result) -> None:
                if result["status"] != "ok":
                    failures.append(run.run_id)
                    bar.console.print(f"[red]failed[/red] run {run.run_id} ({describe(run.overrides)}, "
                                      f"replication {run.replication}): {result['error']}",
                                      markup=True, highlight=False, soft_wrap=True)
                bar.update(task, advance=1, failed=f"{len(failures)} failed" if failures else "")
                done[0] += 1
                if lines is not None:
                    failed = f", {len(failures)} failed" if failures else ""
                    lines.update(f"{done[0]}/{done[1]} runs{failed}", last=done[0] == done[1])

            outcome = run_sweep(spec, folder, runner, catalog=_catalog(device_file), on_start=on_start,
                                on_result=on_result)
    stdout.print(_sweep_table(outcome))
    typer.echo(f"{len(outcome.plan.runs)} runs: {len(outcome.executed) - len(outcome.failed)} ran, "
               f"{len(outcome.skipped)} skipped (finished before), {len(outcome.failed)} failed; "
               f"results in {folder / 'results.parquet'} and {folder / 'summary.parquet'}")
    if outcome.failed:
        typer.echo(f"{len(outcome.failed)} run(s) failed: see {folder}/runs/<run_id>/error.txt; "
                   "run the sweep again to retry them", err=True)
        raise typer.Exit(1)


def _sweep_table(outcome) -> Table:
    """One row per (case, metric): parameters on the case's first row, mean ± 95 % CI half-width."""
    summary, params = outcome.summary, outcome.plan.parameters
    metrics = list(dict.fromkeys(summary["metric"]))
    short = [p.rsplit(".", 1)[-1] for p in params]
    headers = [h if short.count(h) == 1 else p for p, h in zip(params, short, strict=True)]
    out = table(*headers, "runs", "metric", "mean ± 95 % CI", right=("runs", "mean ± 95 % CI"),
                title=f"sweep {outcome.plan.sweep.name}: mean ± 95 % CI half-width over replications")
    for _case, rows in summary.groupby("case", sort=True):
        first = rows.iloc[0]
        case = [_param_cell(first[p]) for p in params]
        case.append(f"{first['runs']}" + (f" ({first['failed']} failed)" if first["failed"] else ""))
        by_metric = {r["metric"]: r for _, r in rows.iterrows()}
        for i, m in enumerate(metrics):
            r = by_metric[m]
            mean = "-" if r["n"] == 0 else fmt(float(r["mean"]))
            ci = "" if r["n"] < 2 else f" ± {fmt(float(r['ci95']))}"
            out.add_row(*(case if i == 0 else [""] * len(case)), m, mean + ci)
        out.add_section()
    return out


def _param_cell(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return fmt(value) if isinstance(value, int | float) else str(value)


def _summary_table(summary: dict, folder: Path) -> Table:
    """The run's headline figures per group; every other figure is in summary.json."""
    out = table("group", "frames", "dropped", "failed", "p50 ms", "p99 ms", "miss %", "mJ/frame",
                right=("frames", "dropped", "failed", "p50 ms", "p99 ms", "miss %", "mJ/frame"),
                title=f"fleetsim: {summary['run']['scenario']}")
    rows = [(name, fig) for name, fig in summary["groups"].items()] + [("all", summary)]
    for name, fig in rows:
        lat, frames, miss = fig["latency_ms"], fig["frames"], fig["latency_ms"]["deadline_miss_rate"]
        out.add_row(name, fmt(frames["generated"]), fmt(frames["dropped"]), fmt(frames["failed"]),
                    fmt(lat["p50"]), fmt(lat["p99"]), fmt(None if miss is None else 100 * miss),
                    fmt(fig["energy"]["per_frame_mj"]))
    net, rt, acc, run = summary["network"], summary["retraining"], summary["accuracy"], summary["run"]
    out.caption = (f"mJ/frame: accelerator and host CPU energy per processed frame, idle included. "
                   f"mAP@0.5 {fmt(acc['map50_mean'])} over {acc['frames']:,} detected frames; "
                   f"uploaded {net['uploaded_bytes'] / 1e6:,.1f} MB, downloaded "
                   f"{net['downloaded_bytes'] / 1e6:,.1f} MB; {rt['jobs']} training job(s), "
                   f"{rt['deployments']} deployment(s); wall {run['wall_s']:.1f} s, of it "
                   f"{run['training_wait_s']:.1f} s waiting for real fine-tunes and "
                   f"{run['detection_wait_s']:.1f} s for real detection. "
                   f"Every figure: {folder / 'summary.json'}")
    return out


def main() -> None:
    """Console-script entry point (figures are only written to files: the Agg backend)."""
    os.environ["MPLBACKEND"] = "Agg"  # read by matplotlib when a command first imports it
    code = run_app(app)
    if code in INTERRUPTED.values() and "fleetsim.sweep" not in sys.modules:
        # run the exit handlers (temporary folders removed), then leave at once, so nothing later
        # in the interpreter's shutdown can turn it into a signal death; a sweep's workers are
        # left to multiprocessing's own shutdown, which ends them
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    main()
