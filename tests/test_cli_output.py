"""What the CLI prints where no wide terminal is: a log, CI, a notebook's ``!`` cell.

Each command runs as its own process with stdout and stderr piped (not a TTY) and COLUMNS=80:
every line of its tables fits 80 columns and nothing is cut with '…'; a run's progress still
reaches the log as plain lines.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from rich.console import Console

from tests.conftest import ROOT, small_scenario_data, with_overrides, write_yaml

WIDTH = 80


def _cli(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": str(WIDTH)}
    env.pop("CI", None)
    result = subprocess.run([sys.executable, "-m", "fleetsim.cli", *args], capture_output=True, text=True,
                            env=env, cwd=cwd, timeout=300)
    assert result.returncode == 0, result.stderr
    return result


def _fits(text: str, messages: tuple[str, ...] = ()) -> None:
    """No line over 80 columns and no cut cell; lines starting with ``messages`` (one-line status
    messages a script may grep, not tables) are exempt from the width."""
    assert "…" not in text
    too_wide = [line for line in text.splitlines() if len(line) > WIDTH and not line.startswith(messages)]
    assert not too_wide, "\n".join(too_wide)


@pytest.mark.parametrize("args", [["hardware", "list"], ["hardware", "show", "coral_usb"],
                                  ["hardware", "predict", "coral_usb", "ssd_mobilenet_v2_300"],
                                  ["hardware", "validate"]])
def test_hardware_tables_fit_80_columns(args):
    out = _cli(*args).stdout
    _fits(out)
    if args[1] == "show":
        assert "[coral-usb-ds]" in out  # sources verbatim, brackets included
    if args[1] == "validate":
        assert "ssd_mobilenet_v2_300" in out and "e+0" not in out


def test_validate_wide_shows_every_column():
    narrow, wide = _cli("hardware", "validate").stdout, _cli("hardware", "validate", "--wide").stdout
    assert "prec" not in narrow.splitlines()[1] and "prec" in wide


def test_run_prints_a_narrow_summary_and_progress_lines(tmp_path):
    path = write_yaml(tmp_path, with_overrides(small_scenario_data(), simulation__duration="2 min"))
    result = _cli("run", str(path), "--out", str(tmp_path / "out"))
    _fits(result.stdout, messages=("results written to",))
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    for group in summary["groups"]:
        assert group in result.stdout
    assert "mJ/frame" in result.stdout and "p99 ms" in result.stdout
    progress = [line for line in result.stderr.splitlines() if line.startswith("small: ")]
    assert progress[0].startswith("small: 0.00/0.03 h simulated")
    assert progress[-1].startswith("small: 0.03/0.03 h simulated")
    quiet = _cli("run", str(path), "--out", str(tmp_path / "quiet"), "--quiet")
    assert quiet.stderr == ""


@pytest.mark.slow
def test_sweep_table_is_one_row_per_case_and_metric(tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(with_overrides(
        small_scenario_data(), simulation__duration="30 s", outputs__plots=False)), encoding="utf-8")
    metrics = ["latency_ms.p99", "energy.per_frame_mj", "groups.coral.latency_ms.p50"]
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump({
        "base": "base.yaml", "grid": {"fleet.groups[0].accelerator": ["coral_usb", "jetson_orin_nano"]},
        "replications": 1, "seed": 3, "metrics": metrics}), encoding="utf-8")
    result = _cli("sweep", str(tmp_path / "sweep.yaml"), "--out", str(tmp_path / "out"), "--workers", "1")
    _fits(result.stdout, messages=("2 runs:",))
    for metric in metrics:
        assert result.stdout.count(metric) == 2  # whole, once per case
    assert "sweep " in result.stderr and "2/2 runs" in result.stderr


def test_model_card_tables_fit_80_columns():
    from fleetsim.cli import _card_tables
    from fleetsim.detector.baseline import read_card

    console = Console(width=WIDTH, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(_card_tables(read_card()))
    text = console.export_text()
    _fits(text)
    assert "pruned_int8" in text and "night" in text
