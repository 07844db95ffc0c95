"""HTML reports of saved runs: ``write_report`` for one run folder, ``write_comparison`` for several.

Pages are one self-contained file each (inline CSS, figures as inline SVG images), built
from the run folder alone, so they work on any saved run; a table an older run lacks
becomes a note on the page.
"""

from fleetsim.report.compare import write_comparison
from fleetsim.report.run_folder import RunFolderError, load_run
from fleetsim.report.run_report import write_report

__all__ = ["RunFolderError", "load_run", "write_comparison", "write_report"]
