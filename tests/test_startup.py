"""Light at the door: importing the package, asking the CLI for help and validating a
scenario load none of the heavy modules (each checked in a fresh interpreter); the engine
comes in on first use of ``fleetsim.run``."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import fleetsim
from tests.conftest import ROOT

# onnx too: validate trusts a shipped model by the bytes its card records
HEAVY = ("torch", "onnxruntime", "ray", "matplotlib", "onnx")
PUBLIC_LIGHT = "--public-light"
PROBE = f"""
import sys
sys.argv = ["fleetsim", *sys.argv[1:]]
code = 0
if len(sys.argv) > 1 and sys.argv[1] != "{PUBLIC_LIGHT}":
    from fleetsim.cli import main
    try:
        main()
    except SystemExit as end:
        code = end.code or 0
else:
    import fleetsim
    fleetsim.FleetsimError, fleetsim.ScenarioError
    if "{PUBLIC_LIGHT}" in sys.argv:  # the public names that need no engine
        scenario = fleetsim.load_scenario(fleetsim.scenario_file("quickstart"), fleetsim.load_catalog())
        assert isinstance(scenario, fleetsim.Scenario) and isinstance(fleetsim.Catalog, type)
        assert fleetsim.predict("coral_usb", "mobilenet_v2_224").latency_s > 0
print("heavy:", *sorted(m for m in {HEAVY!r} if m in sys.modules))
sys.exit(code)
"""


@pytest.mark.parametrize("args", [[], [PUBLIC_LIGHT], ["--help"], ["validate", "scenarios/quickstart.yaml"],
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
    assert set(fleetsim.__all__) <= set(dir(fleetsim))
    for name in fleetsim.__all__:
        assert getattr(fleetsim, name).__doc__, f"fleetsim.{name} is public: it needs a docstring"
    misspelt = "runn"
    with pytest.raises(AttributeError, match="no attribute 'runn'"):
        getattr(fleetsim, misspelt)


@pytest.mark.parametrize("preset", [None, "ACTIVE"])
def test_torchs_openmp_threads_sleep_when_idle_unless_the_user_said_otherwise(preset):
    """Spinning fine-tune threads starved the simulation's own threads of the cores."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if preset:
        env["OMP_WAIT_POLICY"] = preset
    probe = "import os, fleetsim, torch; print(os.environ['OMP_WAIT_POLICY'])"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.strip() == (preset or "PASSIVE")


def test_a_run_loads_matplotlib_only_when_it_plots():
    """A run held in memory (a sweep's, a notebook's) needs no plotting library: 28 MiB and a quarter
    of a second it would carry for nothing."""
    probe = ("import sys, fleetsim\n"
             "results = fleetsim.run('scenarios/placement_edge_vs_cloud.yaml')\n"
             "print('matplotlib' in sys.modules)\n"
             "results.plot_latency_cdf()\n"
             "print('matplotlib' in sys.modules)")
    assert _printed(probe) == ["False", "True"]


def test_a_run_loads_torch_only_when_it_trains():
    """A run whose cloud never retrains (and labels without the teacher) runs its detector files with
    ONNX Runtime alone: torch would add about 1.5 s and 215 MiB to it."""
    probe = ("import sys, fleetsim\n"
             "from fleetsim.engine import Run\n"
             "results = fleetsim.run('scenarios/placement_edge_vs_cloud.yaml')\n"
             "print(results.summary['frames']['detected'] > 0, 'torch' in sys.modules)\n"
             "trains = fleetsim.load_scenario('scenarios/quickstart.yaml', fleetsim.load_catalog())\n"
             "Run(trains, fleetsim.load_catalog())\n"
             "print('torch' in sys.modules)")
    assert _printed(probe) == ["True", "False", "True"]


def _printed(probe: str) -> list[str]:
    """What ``probe`` prints, run in a fresh interpreter (nothing imported before it)."""
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=True)
    return done.stdout.split()
