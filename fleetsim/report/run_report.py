"""The report of one run: one self-contained HTML page built from its run folder.

>>> write_report("out/placement")            # doctest: +SKIP
PosixPath('out/placement/report.html')
"""

from __future__ import annotations

from pathlib import Path

from fleetsim.report import accuracy, energy, latency, network, summary
from fleetsim.report.html import page
from fleetsim.report.run_folder import RunFolder, load_run
from fleetsim.runfolder import write_text_atomic
from fleetsim.version import __version__


def report_html(run: RunFolder) -> str:
    """The report page of ``run`` as HTML text."""
    sections = [summary.section(run), latency.breakdown_section(run), latency.cdf_section(run),
                energy.section(run), accuracy.section(run), network.section(run)]
    return page(f"fleetsim report: {run.summary['run']['scenario']}",
                f"Run folder {run.name}; page written by fleetsim {__version__} from its summary.json, "
                "scenario.resolved.yaml and tables.", sections)


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the report of the run in ``run_dir`` to ``out`` (default RUN_DIR/report.html).

    Raises:
        RunFolderError: ``run_dir`` is not a run folder.
    """
    run = load_run(run_dir)
    target = Path(out) if out is not None else run.path / "report.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(target, report_html(run))
    return target
