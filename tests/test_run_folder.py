"""Atomic run folders: a run is renamed into place only when complete, with its completion
record, and nothing that is not complete loads, whatever point a run is killed at."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import fleetsim
import fleetsim.interrupts as interrupts
from fleetsim import runfolder
from fleetsim.report.run_folder import load_run
from fleetsim.runfolder import RECORD, RunFolderError, check_complete, scenario_sha256, seal
from fleetsim.scenario.models import Scenario
from tests.conftest import small_scenario_data, with_overrides, write_yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def results():
    data = with_overrides(small_scenario_data(), simulation__duration="2 min", outputs__frame_table=False)
    return fleetsim.run(Scenario.model_validate(data))


def test_a_saved_run_is_complete_and_lists_every_file(results, tmp_path):
    folder = results.save(tmp_path / "run")
    record = check_complete(folder)
    assert record["format"] == runfolder.FORMAT_VERSION and record["fleetsim"] == fleetsim.__version__
    assert record["scenario_sha256"] == scenario_sha256(folder)
    on_disk = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert sorted(record["files"]) == [f for f in on_disk if f != RECORD]
    for name, entry in record["files"].items():
        assert (folder / name).stat().st_size == entry["bytes"] and len(entry["sha256"]) == 64
    assert {f"tables/{name}.parquet" for name in results.tables} <= set(record["files"])
    assert not list(tmp_path.glob(".run.partial-*"))  # nothing left beside it
    run = load_run(folder)
    assert run.summary == json.loads(results.summary_json())


@pytest.mark.parametrize("damage", ["no_record", "missing_table", "truncated_table", "edited_summary",
                                    "bad_record", "future_format"])
def test_an_incomplete_or_changed_folder_is_refused_with_one_line(results, tmp_path, damage):
    folder = results.save(tmp_path / "run")
    table = folder / "tables" / "latency_legs.parquet"
    if damage == "no_record":
        (folder / RECORD).unlink()
    elif damage == "missing_table":
        table.unlink()
    elif damage == "truncated_table":
        table.write_bytes(table.read_bytes()[:100])
    elif damage == "edited_summary":
        text = (folder / "summary.json").read_text()
        (folder / "summary.json").write_text(text.replace('"seed": 3', '"seed": 4'))
    elif damage == "bad_record":
        (folder / RECORD).write_text("[1, 2]")
    else:
        record = json.loads((folder / RECORD).read_text())
        (folder / RECORD).write_text(json.dumps({**record, "format": 99}))
    with pytest.raises(RunFolderError) as err:
        load_run(folder)
    assert str(folder) in str(err.value) and "\n" not in str(err.value)


def _steps(results, out: Path, stop_at: int | None, how: signal.Signals | None) -> int:
    """Save ``results`` to ``out`` counting the writing steps; at step ``stop_at`` send ``how``
    to this process. Returns the number of steps of a whole save."""
    count = [0]
    originals = {}

    def counted(owner, name):
        original = getattr(owner, name)
        originals[(owner, name)] = original

        def step(*args, **kwargs):
            count[0] += 1
            if count[0] == stop_at:
                os.kill(os.getpid(), how)
                time.sleep(1)  # the signal lands here, or mid-call below
            return original(*args, **kwargs)
        setattr(owner, name, step)

    for owner, name in ((Path, "write_text"), (pd.DataFrame, "to_parquet"), (os, "rename"), (os, "replace"),
                        (os, "fsync"), (runfolder, "_sha256"), (Path, "mkdir")):
        counted(owner, name)
    try:
        runfolder.save_run(results, out)
    finally:
        for (owner, name), original in originals.items():
            setattr(owner, name, original)
    return count[0]


def _in_child(fn) -> int:
    """Run ``fn`` in a forked child; its exit status (negative: killed by that signal)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            fn()
        except KeyboardInterrupt:
            code = 130
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _never_half_complete(folder: Path, expected_summary: dict) -> bool:
    """The folder is absent, or it loads as complete and holds the whole run; True if it loads."""
    try:
        run = load_run(folder)
    except RunFolderError:
        return False
    assert run.summary == expected_summary
    assert all(run.table(name) is not None for name in ("latency_legs", "vehicles", "uploads", "detections"))
    return True


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_killed_at_every_step_of_the_write_never_leaves_a_folder_that_looks_complete(results, tmp_path, how):
    expected = json.loads(results.summary_json())
    steps = _steps(results, tmp_path / "probe", None, None)
    assert steps > 20  # files, hashes, fsyncs, renames
    loaded = 0
    for stop_at in range(1, steps + 1):
        out = tmp_path / f"run{stop_at}"
        status = _in_child(lambda stop_at=stop_at, out=out: _steps(results, out, stop_at, how))
        assert status in ((-signal.SIGKILL,) if how == signal.SIGKILL else (130, 0)), (stop_at, status)
        complete = _never_half_complete(out, expected)
        loaded += complete
        if how == signal.SIGINT and not complete:  # cleaned up on the way out
            assert not out.exists() and not list(tmp_path.glob(f".{out.name}.partial-*")), stop_at
    assert loaded <= 2  # only a kill after the final rename leaves a run
    # a killed writer's leftovers do not stop the next one, which cleans them up
    out = tmp_path / f"run{steps // 2}"
    results.save(out, overwrite=True)
    assert check_complete(out) and not list(tmp_path.glob(f".{out.name}.partial-*"))


def _cli_run(scenario: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "fleetsim.cli", "run", str(scenario), "--out", str(out),
                             "--quiet"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, process: subprocess.Popen, timeout_s: float = 120.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end and process.poll() is None:
        if predicate():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture(scope="module")
def slow_scenario(tmp_path_factory) -> Path:
    data = with_overrides(small_scenario_data(), simulation__duration="10 min", outputs__frame_table=True,
                          outputs__plots=True, detector__detect_every=600)
    data["cloud"]["retraining"] = {"kind": "never"}
    return write_yaml(tmp_path_factory.mktemp("slow"), data)


@pytest.mark.parametrize(("how", "point"), [(signal.SIGINT, "claimed"), (signal.SIGINT, "simulating"),
                                            (signal.SIGINT, "writing"), (signal.SIGTERM, "simulating"),
                                            (signal.SIGKILL, "simulating"),
                                            (signal.SIGKILL, "writing")])
def test_fleetsim_run_killed_mid_run_leaves_no_run_folder(slow_scenario, tmp_path, how, point):
    out = tmp_path / "out"
    process = _cli_run(slow_scenario, out)
    partial = lambda: next(tmp_path.glob(".out.partial-*"), None)  # noqa: E731
    ready = {"claimed": lambda: partial() is not None,
             "simulating": lambda: partial() is not None,
             "writing": lambda: partial() is not None and (partial() / "plots").exists()}[point]
    reached = _wait_for(ready, process)
    if point == "simulating":
        time.sleep(1)
    published = _signal_held(process, how, lambda: out.exists())
    _, stderr = process.communicate(timeout=120)
    if not reached or published or process.returncode == 0:
        pytest.skip(f"the run finished before {point}")  # too fast on this machine to hit the point
    if f"results written to {out}" in stderr:  # caught as the folder was renamed into place: it is whole
        pytest.skip(f"the interrupt landed once the run folder was published, not at {point}")
    if how in (signal.SIGINT, signal.SIGTERM):
        assert process.returncode == (130 if how == signal.SIGINT else 143), stderr
        assert "Traceback" not in stderr and stderr.strip().splitlines()[-1] == "interrupted"
        assert not list(tmp_path.glob(".out.partial-*"))
    else:
        assert process.returncode == -signal.SIGKILL
    assert not out.exists(), stderr
    with pytest.raises(RunFolderError):
        load_run(out)


def test_fleetsim_run_interrupted_in_its_report_keeps_the_complete_run_folder(slow_scenario, tmp_path):
    out = tmp_path / "out"
    process = _cli_run(slow_scenario, out)
    reached = _wait_for(out.exists, process)
    reported = _signal_held(process, signal.SIGINT, lambda: (out / "report.html").exists())
    _, stderr = process.communicate(timeout=120)
    if not reached or reported or process.returncode == 0:
        pytest.skip("the run finished before its report")  # too fast on this machine to hit the point
    assert process.returncode == 130 and "Traceback" not in stderr
    if (out / "report.html").exists():  # it landed as the report was renamed into place
        assert stderr.strip().splitlines()[-2:] == [f"results written to {out}", "interrupted"]
    else:
        assert stderr.strip().splitlines()[-2:] == [
            f"results written to {out}, but not report.html (fleetsim report {out} writes it)", "interrupted"]
    assert load_run(out).summary
    assert not list(tmp_path.glob(".out.partial-*"))


_FINALIZER_INTERRUPTED = """
import signal, sys, time, weakref
from fleetsim.cli_shared import run_app

class Held:
    pass

def app():
    held = Held()
    watch = weakref.ref(held, lambda _: signal.raise_signal(signal.{how}))  # interrupted in its callback
    del held
    assert watch() is None
    time.sleep(30)
    print("not interrupted")

sys.exit(run_app(app))
"""


@pytest.mark.parametrize("how, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_an_interrupt_that_lands_in_a_finalizer_still_ends_the_command(how, code):
    """Python cannot raise out of a weakref callback or ``__del__``: the interrupt is sent again."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", _FINALIZER_INTERRUPTED.format(how=how)],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (code, "", "interrupted\n")
    assert time.monotonic() - started < 20


_SWALLOWED = """
import signal, sys
from pathlib import Path
from fleetsim.cli_shared import run_app
from fleetsim.runfolder import RunWriter

def app():
    with RunWriter(Path(sys.argv[1])) as writer:
        (writer.path / "summary.json").write_text("{{}}")
        try:
            signal.raise_signal(signal.{how})
        except KeyboardInterrupt:
            pass  # as library code called back from C may lose it (matplotlib drawing, say)
        writer.seal(None)
        writer.publish()
    print("published")

sys.exit(run_app(app))
"""


@pytest.mark.parametrize("how, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_an_interrupt_that_library_code_swallowed_still_keeps_the_run_folder_from_appearing(tmp_path, how,
                                                                                           code):
    done = subprocess.run([sys.executable, "-c", _SWALLOWED.format(how=how), str(tmp_path / "run")], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (code, "", "interrupted\n")
    assert list(tmp_path.iterdir()) == [tmp_path / ".run.lock"]


def test_after_an_interrupt_nothing_is_put_in_place_and_a_run_being_replaced_stays(results, tmp_path):
    old = results.save(tmp_path / "run")
    before = (old / RECORD).read_text()
    interrupts.note(signal.SIGINT)
    try:
        with pytest.raises(KeyboardInterrupt):
            results.save(tmp_path / "run", overwrite=True)
        with pytest.raises(KeyboardInterrupt):
            runfolder.write_text_atomic(tmp_path / "note.txt", "text")
    finally:
        interrupts.forget()
    with runfolder.RunWriter(tmp_path / "run", overwrite=True) as writer:
        runfolder.write_files(results, writer.path)
        writer.seal(scenario_sha256(writer.path))  # written whole before the interrupt
        interrupts.note(signal.SIGTERM)
        try:
            with pytest.raises(KeyboardInterrupt):
                writer.publish()
        finally:
            interrupts.forget()
        assert not writer.published
    assert (old / RECORD).read_text() == before and check_complete(old)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".run.lock", "run"]


_INTERRUPTED_AT_THE_RENAME = """
import os, signal, sys
from pathlib import Path
from fleetsim.runfolder import RunWriter

rename = os.rename

def rename_then_interrupt(src, dst):
    rename(src, dst)
    os.kill(os.getpid(), signal.{how})

signal.signal(signal.SIGTERM, signal.default_int_handler)
if sys.argv[2] == "over a run":
    with RunWriter(Path(sys.argv[1])) as first:
        first.seal(None)
        first.publish()
writer = RunWriter(Path(sys.argv[1]), overwrite=True)
try:
    with writer:
        os.rename = rename_then_interrupt
        writer.publish()
except KeyboardInterrupt:
    print(writer.published, Path(sys.argv[1]).is_dir())
"""


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("where", ["into an empty place", "over a run"])
def test_an_interrupt_as_the_folder_is_renamed_into_place_finds_it_published(tmp_path, how, where):
    """The CLI says a folder is complete (and only its report missing) by ``RunWriter.published``: an
    interrupt landing just after the rename must not find it unset (the old window: a complete folder,
    and no word of it); a run it replaced is gone, not left aside."""
    script = _INTERRUPTED_AT_THE_RENAME.format(how=how)
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "run"), where], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["True", "True"], done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [".run.lock", "run"]


def _signal_held(process: subprocess.Popen, how: signal.Signals, passed) -> bool:
    """Send ``how`` while the process is stopped, so that it lands where the process was caught
    rather than a moment later; returns whether ``passed()`` already held (the point was missed).
    SIGSTOP takes effect a moment after it is sent (the process may be running on the other core):
    ``passed()`` is asked once the process is seen stopped, or it may go on past the point unseen."""
    process.send_signal(signal.SIGSTOP)
    end = time.monotonic() + 10
    while process.poll() is None and not _stopped(process.pid) and time.monotonic() < end:
        time.sleep(0.001)
    missed = process.poll() is None and passed()
    process.send_signal(how)
    process.send_signal(signal.SIGCONT)
    return missed


def _stopped(pid: int) -> bool:
    """Whether process ``pid`` is stopped (its state in /proc/PID/stat)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("T", "t")
    except (OSError, IndexError):
        return False


def test_seal_of_a_hand_made_folder_makes_it_loadable(results, tmp_path):
    folder = results.save(tmp_path / "run")
    (folder / "tables" / "vehicles.parquet").unlink()
    with pytest.raises(RunFolderError, match="missing"):
        load_run(folder)
    seal(folder, scenario_sha256(folder))
    assert load_run(folder).table("vehicles") is None
