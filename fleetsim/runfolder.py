"""Run folders on disk: claimed before a run, written whole, read back only when complete.

A run is written into a hidden sibling, ``.NAME.partial-PID-TOKEN``, and renamed to ``NAME``
only once every file is there and ``complete.json`` lists them (format version, fleetsim
version, scenario hash, each file's size and SHA-256). A folder without that record, or
whose files differ from it, is not a run: :func:`check_complete` says why in one line.
Writers hold an exclusive ``fcntl`` lock on ``.NAME.lock`` beside the folder, so two
writers never mix their files; an existing run is replaced whole, and only when asked.

>>> with RunWriter("out/quickstart", overwrite=True) as writer:      # doctest: +SKIP
...     write_files(results, writer.path)
...     writer.seal(scenario_sha256(writer.path))
...     folder = writer.publish()
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import fleetsim.interrupts as interrupts
from fleetsim.errors import FleetsimError
from fleetsim.version import __version__

FORMAT_VERSION = 1
RECORD = "complete.json"
DERIVED = frozenset({"report.html"})
"""Files written into a complete folder afterwards (``fleetsim report``): never listed."""
MARKERS = (RECORD, "summary.json", "scenario.resolved.yaml", "run.json")
"""Any of these makes a folder a (maybe incomplete) run that ``overwrite`` may replace."""


class RunFolderError(FleetsimError):
    """A path that is not a complete, readable run folder, or cannot become one."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def scenario_sha256(folder: Path) -> str | None:
    """SHA-256 of the folder's scenario.resolved.yaml (None if it has none)."""
    file = Path(folder) / "scenario.resolved.yaml"
    return _sha256(file) if file.is_file() else None


def _listed(folder: Path) -> list[Path]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return sorted(p for p in files if p.relative_to(folder).as_posix() not in (RECORD, *DERIVED))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Write ``path`` through ``write`` on a temporary file beside it and a rename: never half a
    file, and nothing put in place once the command was interrupted (``fleetsim.interrupts``)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        _fsync(tmp)
        interrupts.raise_if_received()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole (:func:`write_atomic`)."""
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def seal(folder: str | Path, scenario_hash: str | None) -> dict:
    """Write ``complete.json`` listing every file now in ``folder``; returns the record."""
    folder = Path(folder)
    files = {}
    for path in _listed(folder):
        _fsync(path)
        files[path.relative_to(folder).as_posix()] = {"bytes": path.stat().st_size, "sha256": _sha256(path)}
    record = {"format": FORMAT_VERSION, "fleetsim": __version__, "scenario_sha256": scenario_hash,
              "files": files}
    write_text_atomic(folder / RECORD, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


def check_complete(folder: str | Path, verify_hashes: bool = True) -> dict:
    """The completion record of ``folder``; RunFolderError (one line, why) if it is not complete."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RunFolderError(f"{folder}: no such run folder" if not folder.exists()
                             else f"{folder}: not a folder (expected a run folder)")
    record_file = folder / RECORD
    if not record_file.is_file():
        what = ("an incomplete run (interrupted, or written by a fleetsim before 0.2)"
                if any((folder / m).exists() for m in MARKERS) else "not a run folder")
        raise RunFolderError(f"{folder}: {what}: no {RECORD}; write one with fleetsim run SCENARIO --out DIR")
    try:
        record = json.loads(record_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise RunFolderError(f"{record_file}: unreadable completion record: {err}") from None
    if not isinstance(record, dict) or not isinstance(record.get("files"), dict):
        raise RunFolderError(f"{record_file}: not a completion record (expected a mapping with 'files')")
    if record.get("format") != FORMAT_VERSION:
        raise RunFolderError(f"{record_file}: run folder format {record.get('format')!r} is not known "
                             f"(this fleetsim reads format {FORMAT_VERSION})")
    for name, entry in record["files"].items():
        path = folder / name
        if not isinstance(entry, dict) or not path.is_file():
            raise RunFolderError(f"{path}: listed in {RECORD} but missing: the folder is not complete")
        size = path.stat().st_size
        if size != entry.get("bytes"):
            raise RunFolderError(f"{path}: {size} bytes where {RECORD} says {entry.get('bytes')}: "
                                 "changed or truncated since the run")
        if verify_hashes and _sha256(path) != entry.get("sha256"):
            raise RunFolderError(f"{path}: content differs from its SHA-256 in {RECORD}: "
                                 "changed since the run")
    return record


@contextmanager
def hold_lock(target: str | Path):
    """Hold the exclusive writer lock of ``target`` (``.NAME.lock`` beside it) or fail at once."""
    import fcntl

    target = Path(target)
    lock_file = target.parent / f".{target.name}.lock"
    try:
        handle = lock_file.open("a")
    except OSError as err:
        raise RunFolderError(f"{target}: cannot be written ({_reason(err)})") from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunFolderError(f"{target}: another fleetsim is writing there (lock {lock_file}); "
                                 "wait for it or choose another --out") from None
        yield
    finally:
        handle.close()  # closing releases the lock


def _reason(err: OSError) -> str:
    return err.strerror or os.strerror(err.errno) if err.errno else str(err)


def _is_run(folder: Path) -> bool:
    return any((folder / m).exists() for m in MARKERS)


class RunWriter:
    """Claims ``out`` for one run: checks and locks it, and gives a hidden sibling to write into.

    Raises RunFolderError on entry (before anything is simulated) when ``out`` is a file,
    holds a run and ``overwrite`` is false, holds files that are not a run, cannot be
    created or written, or another writer holds its lock.
    """

    def __init__(self, out: str | Path, overwrite: bool = False, lock: bool = True):
        self.out = Path(out) if Path(out).name not in ("", "..") else Path(out).resolve()  # "." has no name
        self.overwrite = overwrite
        self.lock = lock
        self.path = self.out.parent / f".{self.out.name}.partial-{os.getpid()}-{os.urandom(4).hex()}"
        self._stack = None
        self._created = False
        self.published = False
        """Whether ``out`` holds this run, complete (once ``publish`` renamed it into place)."""

    def _check_target(self) -> None:
        out = self.out
        if out.is_symlink() or (out.exists() and not out.is_dir()):
            raise RunFolderError(f"--out {out}: is a file or a link, not a folder; choose another --out")
        try:
            occupied = out.is_dir() and any(out.iterdir())
        except OSError as err:
            raise RunFolderError(f"--out {out}: cannot be read ({_reason(err)})") from None
        if occupied:
            if not _is_run(out):
                raise RunFolderError(f"--out {out}: holds files that are not a fleetsim run; "
                                     "choose another --out (it is never replaced)")
            if not self.overwrite:
                raise RunFolderError(f"--out {out}: already holds a run; pass --overwrite to replace it "
                                     "whole, or choose another --out")

    def __enter__(self) -> RunWriter:
        from contextlib import ExitStack

        self._check_target()
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise RunFolderError(f"--out {self.out}: cannot create {err.filename or self.out.parent} "
                                 f"({_reason(err)})") from None
        self._stack = ExitStack()
        try:
            if self.lock:
                self._stack.enter_context(hold_lock(self.out))
            self._check_target()  # again, now that no other writer can change it
            for stale in self.out.parent.glob(f".{self.out.name}.partial-*"):
                shutil.rmtree(stale, ignore_errors=True)  # left by a killed writer
            try:
                self.path.mkdir()
                self._created = True
                probe = self.path / ".probe"
                probe.write_bytes(b"")
                probe.unlink()
            except OSError as err:
                raise RunFolderError(f"--out {self.out}: cannot write in {self.out.parent} "
                                     f"({_reason(err)})") from None
        except BaseException:
            self._cleanup()
            raise
        return self

    def seal(self, scenario_hash: str | None) -> dict:
        """Write the completion record of everything written so far."""
        return seal(self.path, scenario_hash)

    def publish(self) -> Path:
        """Rename the written folder into place (replacing a run already there); returns ``out``.

        Raises KeyboardInterrupt, and renames nothing, if the command was interrupted before
        (``fleetsim.interrupts``); an interrupt that comes during the renames is raised once they
        are done (``published`` then says the folder is in place)."""
        interrupts.raise_if_received()
        old = None
        try:
            with interrupts.held():  # the old run is replaced by the new one whole, or not at all
                if self.out.exists():
                    try:
                        self.out.rmdir()  # an empty folder: the rename below replaces it
                    except OSError as err:
                        if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                            raise
                        old = self.out.parent / f".{self.out.name}.partial-old-{os.getpid()}"
                        os.rename(self.out, old)
                try:
                    os.rename(self.path, self.out)
                except OSError:
                    if old is not None:
                        os.rename(old, self.out)  # the old run back in its place
                    raise
                self.published = True
        finally:
            if self.published:
                _fsync(self.out.parent)
                if old is not None:
                    shutil.rmtree(old, ignore_errors=True)
        return self.out

    def _cleanup(self) -> None:
        if self._created and not self.published:
            shutil.rmtree(self.path, ignore_errors=True)
        if self._stack is not None:
            self._stack.close()
            self._stack = None

    def __exit__(self, *exc) -> None:
        self._cleanup()


def write_files(results, folder: Path) -> None:
    """Write summary.json, scenario.resolved.yaml, tables/*.parquet and plots/*.png of ``results``."""
    import yaml

    (folder / "tables").mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(results.summary_json(), encoding="utf-8")
    resolved = yaml.safe_dump(results.scenario.model_dump(mode="json"), sort_keys=False)
    (folder / "scenario.resolved.yaml").write_text(resolved, encoding="utf-8")
    for name, table in results.tables.items():
        table.to_parquet(folder / "tables" / f"{name}.parquet", index=False)
    if results.scenario.outputs.plots:
        from fleetsim.metrics import plots

        (folder / "plots").mkdir(exist_ok=True)
        plots.save_all(results, folder / "plots")


def save_run(results, out: str | Path, overwrite: bool = False) -> Path:
    """Write ``results`` as a complete run folder at ``out``, atomically; returns ``out``."""
    with RunWriter(out, overwrite=overwrite) as writer:
        write_files(results, writer.path)
        writer.seal(scenario_sha256(writer.path))
        return writer.publish()


NON_NUMERIC = {"run.scenario": str, "run.mode": str, "labeling.labeler": str, "hardware.unpriced": list,
               "offload.unpriced_servers": list, "accuracy.map50_by_condition": dict,
               "accuracy.map50_by_version": dict, "samples.by_condition": dict}
"""Documented summary keys whose value is not a number (or null)."""
REQUIRED = ("run.scenario", "run.seed", "run.sim_s", "run.wall_s")


def _at(summary: dict, key: str):
    node = summary
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(key)
        node = node[part]
    return node


def _is_number(value) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def check_summary(summary, file: str | Path, every_key: bool = False) -> dict:
    """``summary`` if it has the documented shape (docs/results.md), else RunFolderError naming the key.

    Every documented key that is present must hold its kind of value (a number or null, text,
    a list or a mapping); ``run.scenario``, ``run.seed``, ``run.sim_s`` and ``run.wall_s``
    must be present, and with ``every_key`` every documented key must (a sweep's runs).
    """
    from fleetsim.metrics.columns import SUMMARY_KEYS

    if not isinstance(summary, dict):
        raise RunFolderError(f"{file}: a summary must be a JSON mapping, not a {type(summary).__name__}")
    keys = [k for k in SUMMARY_KEYS if "<name>" not in k]
    for key in keys:
        try:
            value = _at(summary, key)
        except KeyError:
            if every_key or key in REQUIRED:
                raise RunFolderError(f"{file}: {key}: missing from the summary") from None
            continue
        kind = NON_NUMERIC.get(key)
        ok = isinstance(value, kind) if kind is not None else _is_number(value)
        if not ok or (key in REQUIRED and value is None):
            expected = kind.__name__ if kind is not None else "a number"
            raise RunFolderError(f"{file}: {key}: {value!r} is not {expected}")
    groups = summary.get("groups", {})
    if not isinstance(groups, dict) or not all(isinstance(g, dict) for g in groups.values()):
        raise RunFolderError(f"{file}: groups: expected a mapping of group name to figures")
    for name, figures in groups.items():
        for section in ("frames", "latency_ms", "energy", "faults"):
            part = figures.get(section, {})
            if not isinstance(part, dict) or not all(_is_number(v) for v in part.values()):
                raise RunFolderError(f"{file}: groups.{name}.{section}: expected a mapping of numbers")
    return summary

