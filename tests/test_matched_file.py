"""A run's matched detections kept in a temporary file: read back as they went in, whatever was
spilled, with nothing left behind however the run ends."""

from __future__ import annotations

import copy
import gc
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fleetsim.detector import matched_file
from fleetsim.detector.evaluation import Matched, Objects, Ranking, class_rows, matched_map50
from fleetsim.detector.matched_file import MatchedFile
from fleetsim.scenario.models import Scenario


def _parts(seed: int, n_parts: int = 12, n_classes: int = 3) -> tuple[list[Matched], list[Objects]]:
    """A run's parts: frame indices following on, many tied scores (quantised), some parts empty."""
    rng = np.random.default_rng(seed)
    found, objects, offset = [], [], 0
    for _ in range(n_parts):
        frames = int(rng.integers(0, 40))
        boxes, truth = int(rng.integers(0, 8)) * frames, int(rng.integers(0, 4)) * frames
        frame = offset + rng.integers(0, max(frames, 1), boxes + truth)
        cls = rng.integers(0, n_classes, boxes + truth)
        score, hit = rng.integers(0, 16, boxes) / 16, rng.random(boxes) < 0.5
        found.append(Matched(frame[:boxes], cls[:boxes], score, hit))
        objects.append(Objects(frame[boxes:], cls[boxes:]))
        offset += frames
    return found, objects


def _filled(found: list[Matched], objects: list[Objects], spill_bytes: int) -> MatchedFile:
    kept = MatchedFile(3, spill_bytes)
    for part, truth in zip(found, objects, strict=True):
        kept.append(part, truth)
    return kept


def _per_class(found: Matched, objects: Objects, n_classes: int = 3) -> list:
    """Each class's rows in their order: what mAP reads of matched rows."""
    return [(found.frame[found.cls == c], found.score[found.cls == c], found.is_tp[found.cls == c],
             objects.frame[objects.cls == c]) for c in range(n_classes)]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("spill_bytes", [0, 2_000, 1 << 40])
def test_rows_read_back_class_by_class_and_by_frame_are_those_that_went_in(seed, spill_bytes):
    found, objects = _parts(seed)
    kept = _filled(found, objects, spill_bytes)
    assert (kept.spilled_bytes > 0) == (spill_bytes < 1 << 40) or not any(len(p.cls) for p in found)
    for got, want in zip(kept.by_class(), class_rows(found, objects, 3), strict=True):
        for a, b in zip(got, want, strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b)
    np.testing.assert_equal(Ranking(kept.by_class()).map50(), Ranking(class_rows(found, objects, 3)).map50())
    everything = Matched.concat(found), Objects.concat(objects)
    frames = 1 + max((int(p.frame.max()) for p in (*found, *objects) if len(p.frame)), default=0)
    inside = np.random.default_rng(seed).random(frames) < 0.3
    got = kept.rows(inside)
    want = everything[0].take(inside[everything[0].frame]), everything[1].take(inside[everything[1].frame])
    for a, b in zip(_per_class(*got), _per_class(*want), strict=True):
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    np.testing.assert_equal(matched_map50(*got, 3), matched_map50(*want, 3))  # NaN where a class has no truth


def test_class_ids_out_of_range_are_refused():
    kept = MatchedFile(3, 0)
    with pytest.raises(ValueError, match=r"class ids must lie in \[0, 3\)"):
        kept.append(Matched([0], [3], [0.5], [True]), Objects([], []))
    with pytest.raises(ValueError, match="class ids"):
        kept.append(Matched([], [], [], []), Objects([0], [-1]))


def _open_in(folder: Path) -> list[str]:
    """This process's open files under ``folder`` (an unlinked one shows as '... (deleted)')."""
    fds = Path("/proc/self/fd")
    links = []
    for fd in fds.iterdir():
        try:
            links.append(os.readlink(fd))
        except OSError:
            continue
    return [link for link in links if link.startswith(str(folder))]


@pytest.fixture
def temporary_dir(tmp_path, monkeypatch) -> Path:
    """The temporary directory the run's files go to, for this test alone."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_the_file_has_no_name_and_close_frees_it(temporary_dir):
    found, objects = _parts(0)
    kept = _filled(found, objects, 0)
    assert kept.spilled_bytes > 0 and os.listdir(temporary_dir) == []  # nothing that could look finished
    assert len(_open_in(temporary_dir)) == 1
    kept.close()
    assert _open_in(temporary_dir) == [] and kept.spilled_bytes == 0


def test_a_file_never_closed_is_closed_when_it_is_collected(temporary_dir):
    kept = _filled(*_parts(0), 0)
    unclosed = f"name={kept._file.fileno()}>"  # what the warning of a file left to the collector names
    gc.collect()  # the other tests' garbage first: only this file's warning counts
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always", ResourceWarning)
        del kept
        gc.collect()
    assert _open_in(temporary_dir) == []
    assert not [w for w in warned if w.category is ResourceWarning and unclosed in str(w.message)]


def _no_retraining(small_data: dict) -> Scenario:
    data = copy.deepcopy(small_data)
    data["cloud"]["retraining"] = {"kind": "never"}
    return Scenario.model_validate(data)


def _results(scenario: Scenario, catalog, spill_bytes: int, monkeypatch):
    from fleetsim.engine import Run
    from fleetsim.results import build_results

    monkeypatch.setattr(matched_file, "SPILL_BYTES", spill_bytes)
    sim = Run(scenario, catalog)
    collectors = sim.execute(None)
    spilled = sim.detection.matched.spilled_bytes
    return build_results(scenario, collectors, wall_s=0.0), spilled, sim.detection


def test_a_run_spilling_every_part_gives_the_results_of_one_spilling_none(small_data, catalog, monkeypatch,
                                                                           temporary_dir):
    scenario = _no_retraining(small_data)
    spilling, spilled, detection = _results(scenario, catalog, 0, monkeypatch)
    held, none_spilled, _ = _results(scenario, catalog, 1 << 40, monkeypatch)
    assert spilled > 0 and none_spilled == 0
    assert spilling.summary["accuracy"] == held.summary["accuracy"]  # mAPs bit for bit
    for name in ("detections", "accuracy_windows"):
        pd.testing.assert_frame_equal(spilling.tables[name], held.tables[name], check_exact=True)
    numbers = spilling.tables["detections"].select_dtypes("number")  # records held narrowed, given back wide
    assert set(numbers.dtypes) == {np.dtype(np.int64), np.dtype(np.float64)}
    gc.collect()
    assert os.listdir(temporary_dir) == [] and _open_in(temporary_dir) == []  # the file went with the results
    with pytest.raises(RuntimeError, match="handed to its results already"):
        detection.take_record()  # a second results build would find nothing: it is refused


@pytest.mark.parametrize("stop", [KeyboardInterrupt, RuntimeError])
def test_a_run_stopped_midway_leaves_no_file(small_data, catalog, monkeypatch, temporary_dir, stop):
    from fleetsim.engine import run

    monkeypatch.setattr(matched_file, "SPILL_BYTES", 0)
    seen = []

    def progress(now: float, end: float) -> None:
        if now > end / 2:
            seen.append(_open_in(temporary_dir))
            raise stop("stopped")  # Ctrl-C, or a failure

    with pytest.raises(stop):
        run(_no_retraining(small_data), catalog=catalog, on_progress=progress)
    assert seen and seen[0] and all(f.endswith("(deleted)") for f in seen[0])  # spilled and samples: no names
    gc.collect()
    assert os.listdir(temporary_dir) == [] and _open_in(temporary_dir) == []
