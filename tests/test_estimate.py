"""Resources estimated and guarded: frames, detections, memory and host time from the scenario,
huge runs refused before anything is built, --force to go anyway."""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

import fleetsim
from fleetsim import estimate as estimate_module
from fleetsim.cli import app
from fleetsim.estimate import TORCH_BYTES, TooLargeError, available_bytes, estimate, guard
from fleetsim.scenario.models import Scenario
from tests.conftest import small_scenario_data, with_overrides, write_yaml

runner = CliRunner()


def small(**overrides) -> dict:
    data = with_overrides(small_scenario_data(), **{"simulation__duration": "2 min",
                                                    "outputs__frame_table": False, **overrides})
    data["cloud"]["retraining"] = {"kind": "never"}
    return data


def test_frames_and_detections_match_a_run():
    scenario = Scenario.model_validate(small())
    found = estimate(scenario)
    summary = fleetsim.run(scenario).summary
    assert found.frames == pytest.approx(summary["frames"]["generated"], rel=0.02)
    assert found.detections >= summary["frames"]["detected"]  # an upper bound: drops are not detected
    assert found.detections == pytest.approx(found.frames / scenario.detector.detect_every)
    assert found.events == found.frames + found.detections
    assert found.peak_bytes > 100e6 and found.wall_s > 0


def test_estimate_grows_with_the_knobs():
    base = estimate(Scenario.model_validate(small()))
    more = small()
    more["fleet"]["groups"][0]["count"] *= 10
    assert estimate(Scenario.model_validate(more)).peak_bytes > base.peak_bytes
    framed = estimate(Scenario.model_validate(small(outputs__frame_table=True)))
    assert framed.peak_bytes > base.peak_bytes
    longer = estimate(Scenario.model_validate(small(simulation__duration="20 min")))
    assert longer.frames == pytest.approx(10 * base.frames) and longer.wall_s > base.wall_s


def test_a_run_that_trains_is_estimated_with_torch():
    never = Scenario.model_validate(small())
    data = small()
    data["cloud"]["retraining"] = {"kind": "periodic", "interval": "1 h",
                                   "cluster": data["cloud"]["clusters"][0]["name"]}
    trains = Scenario.model_validate(data)
    assert estimate(trains).trains and not estimate(never).trains
    assert estimate(trains).peak_bytes >= estimate(never).peak_bytes + TORCH_BYTES


@pytest.mark.parametrize(("what", "overrides"), [("vehicles", {}),
                                                 ("duration", {"simulation__duration": "1e9 s"})])
def test_a_huge_run_is_refused_quickly_with_the_knobs(tmp_path, monkeypatch, what, overrides):
    monkeypatch.setattr(fleetsim, "run", lambda *a, **k: pytest.fail("simulated a refused run"))
    monkeypatch.setattr(estimate_module, "available_bytes", lambda: 16 * 2**30)  # a 16 GiB machine
    data = small(**overrides)
    if what == "vehicles":
        data["fleet"]["groups"][0]["count"] = 1_000_000
    path = write_yaml(tmp_path, data)
    start = time.perf_counter()
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out"), "-q"])
    assert time.perf_counter() - start < 20
    assert result.exit_code == 2, result.output
    line, = result.stderr.strip().splitlines()
    for words in ("refused", "peak memory", "available", "--force", "simulation.duration",
                  "fleet.groups[].count"):
        assert words in line, words
    assert not (tmp_path / "out").exists()
    checked = runner.invoke(app, ["validate", str(path)])
    assert checked.exit_code == 0 and "refuses it without --force" in checked.stdout


def test_force_goes_anyway_and_unknown_memory_never_refuses():
    scenario = Scenario.model_validate(small())
    found = estimate(scenario)
    with pytest.raises(TooLargeError, match="--force"):
        guard(scenario, found, available=found.peak_bytes / 2)
    guard(scenario, found, force=True, available=found.peak_bytes / 2)
    guard(scenario, found, available=found.peak_bytes * 2)


def test_available_memory_is_read_from_meminfo(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16000000 kB\nMemAvailable:    8000000 kB\n")
    assert available_bytes(meminfo) == 8000000 * 1024
    meminfo.write_text("nothing here\n")
    assert available_bytes(meminfo) is None
    assert available_bytes(tmp_path / "absent") is None


def test_validate_prints_the_estimate(tmp_path):
    result = runner.invoke(app, ["validate", str(write_yaml(tmp_path, small()))])
    assert result.exit_code == 0
    assert "estimate:" in result.stdout and "frames" in result.stdout and "peak memory" in result.stdout


def test_a_long_run_shows_its_estimate_beside_the_progress_bar(tmp_path, monkeypatch):
    import fleetsim.cli as cli

    monkeypatch.setattr(cli, "progress_bar", lambda quiet: True)
    monkeypatch.setattr(estimate_module, "LONG_RUN_S", 0.0)  # every run counts as long
    path = write_yaml(tmp_path, small(simulation__duration="30 s"))
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "estimate:" in result.stderr and "host time ~" in result.stderr
