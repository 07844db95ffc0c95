"""`fleetsim validate`: OK, or one located message per problem, never a traceback."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from fleetsim.cli import app
from tests.conftest import ROOT, small_scenario_data, with_overrides, write_yaml

runner = CliRunner()
LOCATED = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<path>[\w.\[\]]+): (?P<msg>.+)$")


def validate(path) -> tuple[int, str, str]:
    result = runner.invoke(app, ["validate", str(path)])
    return result.exit_code, result.stdout, result.stderr


def test_valid_scenario_prints_one_ok_line():
    code, out, err = validate(ROOT / "scenarios" / "quickstart.yaml")
    assert code == 0 and err == ""
    assert out.strip().startswith("OK ") and len(out.strip().splitlines()) == 1


@pytest.mark.parametrize("content, expected", [
    ("", "file is empty"),
    ("name: [unclosed\n", "invalid YAML"),
    ("- a\n- b\n", "top level is a list, not a mapping"),
    ("just text\n", "top level is a str, not a mapping"),
    ("a: 1\na: 2\n", "duplicate key 'a'"),
    ("name: !!python/object/apply:os.system ['echo hacked']\n", "invalid YAML"),
])
def test_broken_files_give_one_clear_message(tmp_path, content, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(content, encoding="utf-8")
    code, out, err = validate(path)
    assert code == 2 and out == ""
    assert expected in err and str(path) in err
    assert "Traceback" not in err and "hacked" not in out + err


def test_missing_file_and_directory(tmp_path):
    code, _, err = validate(tmp_path / "nope.yaml")
    assert code == 2 and "no such file" in err
    code, _, err = validate(tmp_path)
    assert code == 2 and "is a directory" in err


def _first_issue(tmp_path, data) -> re.Match:
    path = write_yaml(tmp_path, data)
    code, out, err = validate(path)
    assert code == 2, out
    assert "Traceback" not in err
    match = LOCATED.match(err.splitlines()[0])
    assert match, err
    assert match["file"] == str(path)
    line = int(match["line"])
    assert 1 <= line <= len(path.read_text().splitlines())
    return match


@pytest.mark.parametrize("overrides, path, fragment", [
    ({"simulation__duration": "0 s"}, "simulation.duration", "greater than zero"),
    ({"simulation__duration": "-5 min"}, "simulation.duration", "greater than zero"),
    ({"simulation__duration": "inf s"}, "simulation.duration", "not finite"),
    ({"simulation__duration": "20 parsecs"}, "simulation.duration", "unknown unit"),
    ({"simulation__duration": 20}, "simulation.duration", "has no unit"),
    ({"simulation__duration": "30 Hz"}, "simulation.duration", "is not a time"),
    ({"simulation__seed": "abc"}, "simulation.seed", "not an integer"),
    ({"fleet__groups__0__count": 0}, "fleet.groups[0].count", "allowed: > 0"),
    ({"fleet__groups__0__count": "many"}, "fleet.groups[0].count", "not an integer"),
    ({"fleet__groups__0__uploads__selection__fraction": 1.5}, "fleet.groups[0].uploads.selection.fraction",
     "allowed: <= 1"),
    ({"fleet__groups__0__uploads__selection__fraction": float("inf")},
     "fleet.groups[0].uploads.selection.fraction", "allowed"),
    ({"fleet__groups__0__cameras__0__arrivals": "bursty"},
     "fleet.groups[0].cameras[0].arrivals", "allowed: 'periodic' or 'poisson'"),
    ({"fleet__groups__0__accelerator": "coral_usbb"}, "fleet.groups[0].accelerator",
     "did you mean 'coral_usb'"),
    ({"fleet__groups__0__route": "lop"}, "fleet.groups[0].route", "did you mean 'loop'"),
    ({"fleet__groups__1__cell": "town"}, "fleet.groups[1].cell", "allowed: town_lte, yard"),
    ({"fleet__groups__1__route": "loop"}, "fleet.groups[1]", "give exactly one of route or cell"),
    ({"network__cells__0__technology": "wimax"}, "network.cells[0].technology",
     "unknown cell technology 'wimax' (allowed: lte, nr_mmwave, nr_sub6)"),
    ({"network__cells__0__backhaul": "edge"}, "network.cells[0].backhaul", "allowed: core"),
    ({"network__backhauls__0__region": "eu"}, "network.backhauls[0].region", "allowed: cloud"),
    ({"world__routes__0__legs__0__cell": "town_lt"}, "world.routes[0].legs[0].cell",
     "did you mean 'town_lte'"),
    ({"world__routes__0__legs__2__depot": "yrd"}, "world.routes[0].legs[2].depot", "allowed: yard"),
    ({"world__routes__0__legs__0__speed": "50 km"}, "world.routes[0].legs[0].speed", "is not a speed"),
    ({"fleet__groups__0__uploads__eviction": "random"}, "fleet.groups[0].uploads.eviction",
     "allowed: 'oldest', 'lowest_priority' or 'newest'"),
    ({"fleet__groups__0__uploads__cellular": "some"}, "fleet.groups[0].uploads.cellular",
     "allowed: 'all', 'urgent' or 'none'"),
    ({"fleet__groups__1__precision": "fp16"}, "fleet.groups[1].precision", "allowed: int8"),
    ({"cloud__clusters__0__device": "coral_usb"}, "cloud.clusters[0].device",
     "unknown cloud hardware model"),
    ({"cloud__retraining__cluster": "tpus"}, "cloud.retraining.cluster", "allowed: gpus"),
    ({"cloud__retraining__kind": "sometimes"}, "cloud.retraining", "unknown kind"),
    ({"network__cells__0__uplink_capacity": "2 Mhz"}, "network.cells[0].uplink_capacity", "unknown unit"),
    ({"fleet__groups__0__route": "5G"}, "fleet.groups[0].route", "'5G' is not a valid name"),
    ({"fleet__groups__0__cameras__0__resolution": "big"},
     "fleet.groups[0].cameras[0].resolution", "WIDTHxHEIGHT"),
    ({"fleet__groups__0__region": "downtown"}, "fleet.groups[0].region", "allowed: ring, town"),
    ({"world__conditions__weather__0__regions": ["rings"]}, "world.conditions.weather[0].regions[0]",
     "did you mean 'ring'"),
    ({"world__conditions__weather__0__weather": "hail"}, "world.conditions.weather[0].weather",
     "allowed: 'rain', 'fog' or 'snow'"),
    ({"world__conditions__diurnal__sunrise": "21 h"}, "world.conditions.diurnal",
     "sunrise must come before sunset"),
    ({"world__frame_size": "96"}, "world.frame_size", "WIDTHxHEIGHT"),
    ({"world__frame_size": "30x96"}, "world.frame_size", "multiple of 4 from 32 to 512"),
    ({"fleet__groups__0__uploads__selection__kind": "smart"}, "fleet.groups[0].uploads.selection",
     "unknown kind"),
    ({"fleet__groups__0__uploads__selection": {"kind": "condition_trigger", "conditions": ["dawn"]}},
     "fleet.groups[0].uploads.selection.conditions[0]", "'night'"),
    ({"fleet__groups__0__uploads__max_rate": "5 MB"}, "fleet.groups[0].uploads.max_rate", "frequency"),
    ({"detector__detect_every": 0}, "detector.detect_every", "allowed: > 0"),
    ({"detector__model": "pruned_int8"}, "detector.model", "allowed with cloud.retraining: int8, fp32, fp16"),
    ({"fleet__groups__0__variant": "pruned_int8"}, "fleet.groups[0].variant",
     "'pruned_int8' has none (allowed with cloud.retraining: int8, fp32, fp16"),
    ({"fleet__groups__1__variant": "fp16", "cloud__retraining": {"kind": "never"}}, "fleet.groups[1].variant",
     "'fp16' runs at fp16, the group at int8 (allowed at int8: int8, pruned_int8, int8_per_tensor"),
    ({"fleet__groups__0__variant": "int4", "cloud__retraining": {"kind": "never"}}, "fleet.groups[0].variant",
     "'int4' is neither a baseline variant (fp32, int8, pruned_int8) nor an .onnx file"),
    ({"fleet__groups__0__faults": {"thermal_throttling": {"after": "10 min"}}},
     "fleet.groups[0].faults.thermal_throttling", "coral_usb has no sourced thermal figures; set "
     "sustained_fraction"),
    ({"fleet__groups__0__faults": {"thermal_throttling": {"after": "1 min", "sustained_fraction": 0}}},
     "fleet.groups[0].faults.thermal_throttling.sustained_fraction", "allowed: > 0"),
    ({"fleet__groups__0__faults": {"failures": {"mtbf": "100 h"}}},
     "fleet.groups[0].faults.failures.repair", "required field is missing"),
    ({"fleet__groups__0__host": "jetson_orin_nano"}, "fleet.groups[0].host", "unknown host CPU"),
    ({"fleet__groups__0__power_mode": "maxn"}, "fleet.groups[0].power_mode",
     "coral_usb has no power mode 'maxn' (allowed: none)"),
    ({"fleet__groups__0__faults": {"failure": {"mtbf": "100 h"}}},
     "fleet.groups[0].faults.failure", "did you mean 'failures'"),
])
def test_bad_values_are_located_and_explained(tmp_path, overrides, path, fragment):
    match = _first_issue(tmp_path, with_overrides(small_scenario_data(), **overrides))
    assert match["path"] == path
    assert fragment in match["msg"]


def test_unknown_key_suggests_the_closest(tmp_path):
    data = small_scenario_data()
    data["simulation"]["durration"] = "1 h"
    match = _first_issue(tmp_path, data)
    assert match["path"] == "simulation.durration"
    assert "did you mean 'duration'" in match["msg"] and "allowed:" in match["msg"]


def test_unknown_key_inside_a_tagged_union(tmp_path):
    data = small_scenario_data()
    data["cloud"]["retraining"]["intervall"] = "1 h"
    match = _first_issue(tmp_path, data)
    assert match["path"] == "cloud.retraining.intervall"
    assert "did you mean 'interval'" in match["msg"]


def test_line_numbers_point_at_the_field(tmp_path):
    data = with_overrides(small_scenario_data(), fleet__groups__1__count=-1)
    path = write_yaml(tmp_path, data)
    _, _, err = validate(path)
    line = int(LOCATED.match(err.splitlines()[0])["line"])
    assert path.read_text().splitlines()[line - 1].strip() == "count: -1"


def test_several_problems_are_all_reported(tmp_path):
    data = with_overrides(small_scenario_data(), simulation__duration="0 s",
                          fleet__groups__0__count=0)
    _, _, err = validate(write_yaml(tmp_path, data))
    assert len(err.strip().splitlines()) == 2


def test_missing_required_field(tmp_path):
    data = small_scenario_data()
    del data["fleet"]["groups"][0]["deadline"]
    match = _first_issue(tmp_path, data)
    assert match["path"] == "fleet.groups[0].deadline" and "required" in match["msg"]


def test_duplicate_group_names(tmp_path):
    data = small_scenario_data()
    data["fleet"]["groups"][1]["name"] = "coral"
    match = _first_issue(tmp_path, data)
    assert match["path"] == "fleet.groups" and "duplicate group name" in match["msg"]


def test_run_with_a_bad_file_exits_2_without_traceback(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "fleetsim.cli", "run", str(path)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "required field is missing" in proc.stderr
