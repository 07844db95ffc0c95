"""Sweeps that stop cleanly and resume honestly: workers end with the sweep on SIGINT, SIGTERM
and SIGKILL, and resume accepts only complete run folders with a summary of the documented shape."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import fleetsim
from fleetsim.runfolder import RunFolderError, hold_lock, scenario_sha256, seal
from fleetsim.scenario.models import Scenario
from fleetsim.sweep import run_sweep
from fleetsim.sweep import runner as sweep_runner
from fleetsim.sweep.backends import InlineBackend
from tests.test_sweep import TINY, tiny_base, write_sweep

ROOT = Path(__file__).resolve().parents[1]
DRIVER = """
import sys
from fleetsim.sweep.backends import LocalBackend
from tests.sleepers import sleep_task
list(LocalBackend(2).map(sleep_task, [sys.argv[1]] * 2))
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL],
                         ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_workers_end_with_the_sweep(tmp_path, how):
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(tmp_path)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + 120
        while len(list(tmp_path.iterdir())) < 2 and time.monotonic() < end and driver.poll() is None:
            time.sleep(0.05)
        workers = [int(p.name) for p in tmp_path.iterdir()]
        assert len(workers) == 2 and all(_alive(w) for w in workers)
        driver.send_signal(how)
        driver.wait(timeout=30)
        end = time.monotonic() + 10
        while any(_alive(w) for w in workers) and time.monotonic() < end:
            time.sleep(0.05)
        assert not any(_alive(w) for w in workers), f"workers outlived the sweep ({how.name})"
    finally:
        driver.kill()
        for w in [int(p.name) for p in tmp_path.iterdir()]:
            if _alive(w):
                subprocess.run(["kill", "-9", str(w)], check=False)


# --- resume ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_summary() -> dict:
    return json.loads(fleetsim.run(Scenario.model_validate(tiny_base())).summary_json())


@pytest.fixture
def swept(tmp_path, monkeypatch, real_summary):
    calls = []
    monkeypatch.setattr(sweep_runner, "_simulate", lambda scenario, seed: calls.append(seed) or real_summary)
    path = write_sweep(tmp_path, **TINY)
    outcome = run_sweep(path, tmp_path / "out", InlineBackend())
    assert len(calls) == 4 and not outcome.failed
    calls.clear()
    return path, outcome, calls


def _resume(swept):
    path, outcome, calls = swept
    again = run_sweep(path, outcome.out_dir, InlineBackend())
    return again, calls


def test_finished_runs_are_complete_folders_and_are_skipped(swept):
    _, outcome, _ = swept
    for run_id in outcome.results["run_id"]:
        assert (outcome.out_dir / "runs" / run_id / "complete.json").is_file()
    again, calls = _resume(swept)
    assert calls == [] and len(again.skipped) == 4


@pytest.mark.parametrize("damage", ["empty_mapping", "list", "strings_for_numbers", "missing_key",
                                    "unsealed_empty", "no_record", "partial_folder"])
def test_resume_reruns_a_run_whose_folder_is_not_complete_or_not_a_summary(swept, damage):
    _, outcome, _ = swept
    victim = outcome.out_dir / "runs" / outcome.results["run_id"].iloc[0]
    summary = json.loads((victim / "summary.json").read_text())
    reseal = True
    if damage == "empty_mapping":
        summary = {}
    elif damage == "list":
        summary = [1, 2]
    elif damage == "strings_for_numbers":
        summary["latency_ms"]["p99"] = "fast"
    elif damage == "missing_key":
        del summary["energy"]["per_frame_mj"]
    elif damage == "unsealed_empty":
        summary, reseal = {}, False
    if damage in ("no_record", "partial_folder"):
        (victim / "complete.json").unlink()
        if damage == "partial_folder":
            (victim / "summary.json").unlink()
    else:
        (victim / "summary.json").write_text(json.dumps(summary))
        if reseal:
            seal(victim, scenario_sha256(victim))
    again, calls = _resume(swept)
    assert len(calls) == 1 and len(again.skipped) == 3 and not again.failed
    assert json.loads((victim / "summary.json").read_text()) == outcome_summary(swept)
    assert again.results["status"].eq("ok").all() and len(again.results) == 4


def outcome_summary(swept) -> dict:
    _, outcome, _ = swept
    first = outcome.out_dir / "runs" / outcome.results["run_id"].iloc[1]
    return json.loads((first / "summary.json").read_text())


def test_a_second_sweep_into_the_same_folder_is_refused(swept):
    path, outcome, _ = swept
    with hold_lock(outcome.out_dir), pytest.raises(RunFolderError, match="another fleetsim"):
        run_sweep(path, outcome.out_dir, InlineBackend())


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_fleetsim_sweep_interrupted_ends_its_workers_and_says_so(tmp_path, how):
    path = write_sweep(tmp_path, **TINY)
    sweep = subprocess.Popen([sys.executable, "-m", "fleetsim.cli", "sweep", str(path), "--out",
                              str(tmp_path / "out"), "--workers", "2", "--quiet"], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + 120
        while len(_children(sweep.pid)) < 2 and time.monotonic() < end and sweep.poll() is None:
            time.sleep(0.05)
        workers = [w for w in _children(sweep.pid) if _alive(w)]
        if sweep.poll() is not None or len(workers) < 2:
            pytest.skip("the sweep ended before its workers could be seen")
        sweep.send_signal(how)
        _, stderr = sweep.communicate(timeout=60)
        assert sweep.returncode == (130 if how == signal.SIGINT else 143), stderr
        assert "Traceback" not in stderr and stderr.strip().splitlines()[-1] == "interrupted"
        end = time.monotonic() + 10
        while any(_alive(w) for w in workers) and time.monotonic() < end:
            time.sleep(0.05)
        assert not any(_alive(w) for w in workers)
    finally:
        sweep.kill()
