"""Every figure the README quotes, regenerated from the runs that make it.

A study runs its shipped scenarios in full (seed as in the files), keeps what its tables
need in ``docs/figures/<study>.json`` together with the stored short-cut digests of those
scenarios at the time, and renders markdown blocks that stand between markers in the
README::

    <!-- figures: cadence.table -->
    ...generated, never edited by hand...
    <!-- /figures -->

``tests/test_figures.py`` checks that the README's blocks are what the stored figures
render to, and that each study's figures were made with the digests stored now: a change
that moves a study's results (new digests) must re-run the study in the same commit.

    python -m fleetsim.tools.figures run cadence strategies   # re-run studies, then render
    python -m fleetsim.tools.figures render [--check]         # rewrite (or check) the blocks
    make figures                                              # every study
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import re
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fleetsim.digests import SCENARIOS, cpu_class, stored_digests, without_wall_times
from fleetsim.paths import PROJECT_ROOT

FIGURES_DIR = PROJECT_ROOT / "docs" / "figures"
DOCUMENTS = (PROJECT_ROOT / "README.md",)
BLOCK = re.compile(r"(<!-- figures: (?P<name>[\w.]+) -->\n)(?P<body>.*?)(<!-- /figures -->)", re.S)


def _script(path: Path):
    """A study's table.py, loaded by path (the scenarios folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f"study_{path.parent.name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Study:
    """Shipped scenarios run in full, what is kept of each run, and the blocks rendered from it."""

    name: str
    scenarios: tuple[str, ...]  # relative to scenarios/
    keep: Callable  # (Results) -> dict kept in docs/figures/<name>.json
    render: Callable  # (figures by scenario) -> {block name: markdown}


def _summary_only(results) -> dict:
    return {"summary": without_wall_times(json.loads(results.summary_json()))}


def _fill(text: str, indent: str = "") -> str:
    """``text`` wrapped at 90 columns, never between a number and its unit."""
    glued = re.sub(r"(\d) (%|ms|s|h|GB|USD|kWh)(?!\w)", "\\1\x00\\2", text)
    return textwrap.fill(glued, 90, initial_indent=indent, subsequent_indent=indent).replace("\x00", " ")


# --- retraining cadence -----------------------------------------------------------------

CADENCE = ("never", "periodic", "drift", "periodic_tpu", "drift_tpu")


def _cadence_keep(results) -> dict:
    kept = _summary_only(results)
    clusters = results.scenario.cloud.clusters
    kept["trains_on"] = "-" if results.scenario.cloud.retraining.kind == "never" else clusters[0].device
    return kept


def _cadence_render(figures: dict) -> dict[str, str]:
    table = _script(SCENARIOS / "retraining_cadence" / "table.py")
    header = ["scenario", "trains on", "mAP@0.5", *(f"{label} mAP" for _, label in table.CONDITIONS), "jobs",
              "deployed", "rejected", "rolled back", "cloud kWh", "cloud USD", "labelling USD",
              "recovered / onsets", "mean time to recover", "mean model age"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key in (f"retraining_cadence/{n}.yaml" for n in CADENCE):
        run = figures[key]
        name = Path(key).stem
        summary = {**run["summary"], "run": {**run["summary"]["run"], "wall_s": 0.0}}  # wall: not stored
        lines.append("| " + " | ".join(table.row(name, summary, run["trains_on"])[:-1]) + " |")
    return {"cadence.table": "\n".join(lines), "cadence.findings": _cadence_findings(figures)}


def _cadence_findings(figures: dict) -> str:
    s = {Path(k).stem: v["summary"] for k, v in figures.items()}
    acc = {n: x["accuracy"]["map50_mean"] for n, x in s.items()}
    rt = {n: x["retraining"] for n, x in s.items()}
    night = {n: x["accuracy"]["map50_by_condition"].get("night_clear") for n, x in s.items()}
    cloud = [r["cloud_cost_usd"] for r in rt.values()]
    labelling = [x["labeling"]["cost_usd"] for x in s.values()]

    def per_job(name: str) -> float:
        return rt[name]["cloud_cost_usd"] / rt[name]["jobs"]

    def jobs(name: str) -> str:
        r = rt[name]
        return (f"{name} {r['jobs']} / {r['deployments']} / {r['models_rejected']} / {r['rollbacks']}, "
                f"{r['recovered']} of {r['drift_onsets']} onsets recovered")

    return "\n".join([
        f"- mAP@0.5 over the three days: never {acc['never']:.3f}, periodic {acc['periodic']:.3f}, "
        f"drift {acc['drift']:.3f} (on the TPU: periodic {acc['periodic_tpu']:.3f}, drift "
        f"{acc['drift_tpu']:.3f}); night: never {night['never']:.3f}, periodic {night['periodic']:.3f}, "
        f"drift {night['drift']:.3f}.",
        f"- Jobs / deployed / rejected by the gate / rolled back: {jobs('periodic')}; {jobs('drift')}.",
        f"- A whole run's training costs {min(cloud):.2f}-{max(cloud):.2f} USD; labelling the uploaded "
        f"samples costs {min(labelling):.0f}-{max(labelling):.0f} USD in every variant, never included.",
        f"- Per job the TPU v5e costs {per_job('periodic_tpu') / per_job('periodic'):.1f} times the A100 "
        f"({per_job('periodic_tpu'):.3f} vs {per_job('periodic'):.3f} USD).",
    ])


# --- where to train, where to infer -------------------------------------------------------


def _strategies_module():
    return _script(SCENARIOS / "strategies" / "table.py")


def _strategies_keep(results) -> dict:
    table = _strategies_module()
    row = table.figures(results.summary, results.tables["training_jobs"])
    row.pop("wall_s")
    return {"figures": row, "where": table.describe(results.scenario.model_dump(mode="json"))}


def _strategies_render(figures: dict) -> dict[str, str]:
    table = _strategies_module()
    runs = {Path(k).stem: v for k, v in figures.items()}
    rows = {name: runs[name]["figures"] for name in table.STRATEGIES}
    where = {name: runs[name]["where"] for name in table.STRATEGIES}
    return {"strategies.table": table.markdown(rows, where)}


# --- inference placement -----------------------------------------------------------------


def _placement_render(figures: dict) -> dict[str, str]:
    s = figures["placement_edge_vs_cloud.yaml"]["summary"]
    groups = s["groups"]

    def ms(group: str, key: str) -> str:
        return f"{groups[group]['latency_ms'][key]:.1f} ms"

    offboard = s["privacy"]["offboard_frame_bytes"]
    text = (f"onboard Orin Nano p50 {ms('onboard', 'p50')} (p99 {ms('onboard', 'p99')}), MEC L4 p50 "
            f"{ms('mec', 'p50')} (p99 {ms('mec', 'p99')}), cloud A100 p50 {ms('cloud', 'p50')} (p99 "
            f"{ms('cloud', 'p99')}), with {offboard / 2 / 1e9:.1f} GB of frames leaving each offloading "
            f"group of four vehicles in 10 minutes.")
    return {"placement.text": _fill(text, indent="  ")}


STUDIES = {s.name: s for s in (
    Study("cadence", tuple(f"retraining_cadence/{n}.yaml" for n in CADENCE), _cadence_keep, _cadence_render),
    Study("strategies", tuple(f"strategies/{n}.yaml" for n in
                              ("cpu_cpu", "tpu_train_gpu_edge", "gpu_gpu", "gpu_train_edgetpu")),
          _strategies_keep, _strategies_render),
    Study("placement", ("placement_edge_vs_cloud.yaml",), _summary_only, _placement_render),
)}


def _hardware_validation() -> dict[str, str]:
    """Rendered live: the hardware files are its only input, and it takes seconds."""
    from fleetsim.hardware.calibration import validate_catalog
    from fleetsim.hardware.catalog import load_catalog

    o = validate_catalog(load_catalog())["overall"]
    text = (f"{o['loo_points']} leave-one-out calibration points, median |error| "
            f"{o['loo_median_abs_error']:.0%}, worst factor {o['loo_worst_ratio']:.1f}x (target: <= 20% and "
            f"nothing beyond 2x); {o['validation_points']} validation points (never fitted), median "
            f"{o['validation_median_abs_error']:.0%}, worst {o['validation_worst_ratio']:.1f}x, or median "
            f"{o['validation_model_scope_median_abs_error']:.0%} and worst "
            f"{o['validation_model_scope_worst_ratio']:.1f}x over the {o['validation_model_scope_points']} "
            f"model-scope points; {o['excluded_points']} points excluded, each with its reason.")
    return {"hardware.validation": _fill(text.replace("%", " %"))}


LIVE = (_hardware_validation,)
"""Blocks computed from the repository's own files each time they are rendered."""


def digest_fingerprint(scenarios, cpu: str) -> str | None:
    """SHA-256 over the stored short-cut digests of ``scenarios`` for CPU class ``cpu``."""
    stored = stored_digests(cpu)
    if stored is None or any(s not in stored for s in scenarios):
        return None
    return hashlib.sha256(json.dumps({s: stored[s] for s in scenarios}, sort_keys=True).encode()).hexdigest()


def figures_file(study: Study) -> Path:
    return FIGURES_DIR / f"{study.name}.json"


def load_figures(study: Study) -> dict | None:
    path = figures_file(study)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def run_study(study: Study, report=print) -> dict:
    """Run every scenario of ``study`` in full and store what its blocks need."""
    from fleetsim.engine import run

    kept = {}
    for key in study.scenarios:
        start = time.perf_counter()
        kept[key] = study.keep(run(SCENARIOS / key))
        report(f"{study.name}: ran {key} in {time.perf_counter() - start:.0f} s")
    doc = {"study": study.name, "cpu_class": cpu_class(),
           "digests": digest_fingerprint(study.scenarios, cpu_class()), "scenarios": kept}
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    figures_file(study).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return doc


def rendered_blocks() -> dict[str, str]:
    """Every block, rendered from the stored figures of every study."""
    blocks = {}
    for live in LIVE:
        blocks.update(live())
    for study in STUDIES.values():
        doc = load_figures(study)
        if doc is not None:
            blocks.update(study.render(doc["scenarios"]))
    return blocks


def render_document(text: str, blocks: dict[str, str]) -> str:
    """``text`` with each known block's body replaced by its rendering."""
    def replace(match: re.Match) -> str:
        name = match["name"]
        body = blocks[name] + "\n" if name in blocks else match["body"]
        return match.group(1) + body + match.group(4)

    return BLOCK.sub(replace, text)


def stale_documents() -> list[Path]:
    blocks = rendered_blocks()
    return [p for p in DOCUMENTS if render_document(p.read_text(encoding="utf-8"), blocks) != p.read_text(
        encoding="utf-8")]


def render_all() -> None:
    blocks = rendered_blocks()
    for path in DOCUMENTS:
        path.write_text(render_document(path.read_text(encoding="utf-8"), blocks), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fleetsim.tools.figures",
                                     description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    runs = sub.add_parser("run", help="re-run studies in full, store their figures, render the README")
    runs.add_argument("studies", nargs="*", help=f"any of {', '.join(STUDIES)} (default: every study)")
    check = sub.add_parser("render", help="rewrite the README's figure blocks from the stored figures")
    check.add_argument("--check", action="store_true", help="only say whether a block is out of date")
    args = parser.parse_args(argv)
    if args.command == "run":
        unknown = sorted(set(args.studies) - set(STUDIES))
        if unknown:
            parser.error(f"unknown study {', '.join(unknown)}; known: {', '.join(STUDIES)}")
        for name in args.studies or STUDIES:
            run_study(STUDIES[name], report=lambda line: print(line, file=sys.stderr))
    if getattr(args, "check", False):
        stale = stale_documents()
        for path in stale:
            print(f"{path.relative_to(PROJECT_ROOT)}: figure blocks out of date; run "
                  "`python -m fleetsim.tools.figures render`")
        return 1 if stale else 0
    render_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
