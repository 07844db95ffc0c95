"""No silent overwrite: --out holding a run is refused without --overwrite and replaced whole
with it, a lock stops two writers, and an --out that cannot be written is reported before
anything is simulated."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import fleetsim
from fleetsim.cli import app
from fleetsim.report.run_folder import load_run
from fleetsim.runfolder import RunFolderError, RunWriter, hold_lock
from fleetsim.scenario.models import Scenario
from tests.conftest import small_scenario_data, with_overrides, write_yaml

runner = CliRunner()


def small() -> dict:
    data = with_overrides(small_scenario_data(), simulation__duration="1 min", outputs__frame_table=False,
                          detector__detect_every=600)
    data["cloud"]["retraining"] = {"kind": "never"}
    return data


@pytest.fixture(scope="module")
def results():
    return fleetsim.run(Scenario.model_validate(small()))


@pytest.fixture
def no_simulation(monkeypatch):
    """fleetsim.run fails the test if called: refusals must come before simulating."""
    def refuse(*args, **kwargs):
        raise AssertionError("simulated although --out was refused")
    monkeypatch.setattr(fleetsim, "run", refuse)


def _cli(tmp_path, out, *extra):
    path = write_yaml(tmp_path, small())
    return runner.invoke(app, ["run", str(path), "--out", str(out), "--quiet", *extra])


def test_an_existing_run_is_refused_before_simulating(results, tmp_path, no_simulation):
    out = results.save(tmp_path / "run")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    result = _cli(tmp_path, out)
    assert result.exit_code == 2, result.output
    assert "already holds a run" in result.stderr and "--overwrite" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_overwrite_replaces_the_run_whole(results, tmp_path):
    out = results.save(tmp_path / "run")
    (out / "plots").mkdir(exist_ok=True)
    (out / "plots" / "stale.png").write_bytes(b"old")
    (out / "report.html").write_text("old page")
    result = _cli(tmp_path, out, "--overwrite", "--seed", "9")
    assert result.exit_code == 0, result.output
    assert not (out / "plots" / "stale.png").exists()
    assert not (out / "report.html").exists()  # outputs.plots is false in the new run
    assert load_run(out).summary["run"]["seed"] == 9
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".run.")) == [".run.lock"]


def test_library_save_refuses_then_replaces(results, tmp_path):
    out = results.save(tmp_path / "run")
    with pytest.raises(RunFolderError, match="already holds a run"):
        results.save(out)
    (out / "stale.txt").write_text("x")
    results.save(out, overwrite=True)
    assert not (out / "stale.txt").exists()


def test_an_empty_folder_is_used(results, tmp_path):
    (tmp_path / "run").mkdir()
    assert load_run(results.save(tmp_path / "run"))


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_folder_of_other_files_is_never_replaced(tmp_path, no_simulation, overwrite):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"keep me")
    result = _cli(tmp_path, out, *(["--overwrite"] if overwrite else []))
    assert result.exit_code == 2 and "not a fleetsim run" in result.stderr
    assert (out / "holiday.jpg").read_bytes() == b"keep me"


@pytest.mark.parametrize("where", ["file", "under_a_file", "proc"])
def test_an_out_that_cannot_be_written_is_reported_before_simulating(tmp_path, no_simulation, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    out = {"file": blocker, "under_a_file": blocker / "run", "proc": "/proc/fleetsim-test/run"}[where]
    result = _cli(tmp_path, out)
    assert result.exit_code == 2, result.output
    assert str(out) in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_a_read_only_folder_is_reported_before_simulating(tmp_path, no_simulation):
    import os
    import subprocess

    parent = tmp_path / "ro"
    parent.mkdir()
    # root writes through permission bits, but not into an immutable folder (ext4's chattr +i)
    as_root = os.geteuid() == 0
    lock = ["chattr", "+i", str(parent)] if as_root else None
    if as_root and subprocess.run(lock, capture_output=True).returncode != 0:
        pytest.skip("running as root on a file system without immutable folders")
    if not as_root:
        parent.chmod(0o555)
    try:
        result = _cli(tmp_path, parent / "run")
    finally:
        if as_root:
            subprocess.run(["chattr", "-i", str(parent)], check=True)
        parent.chmod(0o755)
    assert result.exit_code == 2 and "cannot" in result.stderr


def test_a_lock_stops_a_second_writer(results, tmp_path, no_simulation):
    out = tmp_path / "run"
    with hold_lock(out):
        result = _cli(tmp_path, out)
        assert result.exit_code == 2 and "another fleetsim is writing" in result.stderr
        with pytest.raises(RunFolderError, match="another fleetsim"):
            results.save(out)
    with RunWriter(out) as first:
        with pytest.raises(RunFolderError, match="another fleetsim"), RunWriter(out):
            pass
        assert first.path.is_dir()  # the refused writer did not clean up the first one's files
    assert not out.exists()
    assert load_run(results.save(out))
