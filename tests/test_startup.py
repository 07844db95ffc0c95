"""Light at the door: importing the package, asking the CLI for help and validating a
scenario load none of the heavy modules (each checked in a fresh interpreter); the engine
comes in on first use of ``fleetsim.run``."""

from __future__ import annotations

import subprocess
import sys

import pytest

import fleetsim
from tests.conftest import ROOT

HEAVY = ("torch", "onnxruntime", "ray", "matplotlib")
PROBE = f"""
import sys
sys.argv = ["fleetsim", *sys.argv[1:]]
code = 0
if len(sys.argv) > 1:
    from fleetsim.cli import main
    try:
        main()
    except SystemExit as end:
        code = end.code or 0
else:
    import fleetsim
    fleetsim.FleetsimError, fleetsim.ScenarioError
print("heavy:", *sorted(m for m in {HEAVY!r} if m in sys.modules))
sys.exit(code)
"""


@pytest.mark.parametrize("args", [[], ["--help"], ["validate", "scenarios/quickstart.yaml"],
                                  ["hardware", "--help"], ["run", "--help"], ["sweep", "--help"]],
                         ids=lambda a: " ".join(a) or "import fleetsim")
def test_loads_no_heavy_module(args):
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "heavy:"


def test_public_names_load_on_first_use():
    from fleetsim.engine import run
    from fleetsim.results import Results

    assert fleetsim.run is run and fleetsim.Results is Results
    assert {"run", "Results", "FleetsimError", "ScenarioError"} <= set(dir(fleetsim))
    misspelt = "runn"
    with pytest.raises(AttributeError, match="no attribute 'runn'"):
        getattr(fleetsim, misspelt)
