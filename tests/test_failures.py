"""Every failure is one clear line: documented exit codes, a total boundary around reading a
scenario (fuzzed), model files checked at validate time, damaged run folders, OS errors."""

from __future__ import annotations

import copy
import errno
import json
import os
import shutil
from pathlib import Path

import onnx
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper
from typer.testing import CliRunner

import fleetsim
from fleetsim.cli import app
from fleetsim.errors import ScenarioError
from fleetsim.runfolder import scenario_sha256, seal
from fleetsim.scenario.loader import load_scenario
from fleetsim.scenario.model_file import BASELINE_DIR, BASELINE_VARIANTS
from fleetsim.scenario.models import Scenario
from tests.conftest import small_scenario_data, with_overrides, write_yaml

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = int(os.environ.get("FLEETSIM_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def small() -> dict:
    data = with_overrides(small_scenario_data(), simulation__duration="1 min", outputs__frame_table=False,
                          detector__detect_every=600)
    data["cloud"]["retraining"] = {"kind": "never"}
    return data


def _one_line_naming(result, what: str) -> None:
    assert "Traceback" not in result.output, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and what in lines[0], result.stderr


def test_exit_codes_are_documented():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for code in ("0 ok", "1 run failed", "2 bad input", "130 interrupted"):
        assert code in text, code
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "## Reliability" in readme and "130" in readme.split("## Reliability")[1]


# --- reading a scenario: a total boundary ---------------------------------------------

SCALARS = (st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.floats() | st.text(max_size=10)
           | st.sampled_from(["1 min", "30 Hz", "-1 s", "coral_usb", "never", "1e400", "nan"]))
NESTED = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8) | st.integers(), inner, max_size=4),
                      max_leaves=25)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


BASE = small()
PATHS = [p for p in _paths(BASE) if p]


def _only_scenario_errors(path: Path, catalog) -> None:
    try:
        load_scenario(path, catalog)
    except ScenarioError as err:
        assert all(line.startswith(str(path)) for line in str(err).splitlines()), str(err)


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes_load_or_fail_as_one_scenario_error(tmp_path, catalog, data):
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(data)
    _only_scenario_errors(path, catalog)


@FUZZ
@given(NESTED)
def test_any_nested_yaml_loads_or_fails_as_one_scenario_error(tmp_path, catalog, value):
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(value), encoding="utf-8")
    _only_scenario_errors(path, catalog)


@settings(FUZZ, max_examples=EXAMPLES * 4)
@given(st.sampled_from(PATHS), NESTED)
def test_any_value_anywhere_in_a_scenario_fails_as_one_scenario_error(tmp_path, catalog, where, value):
    data = copy.deepcopy(BASE)
    node = data
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    _only_scenario_errors(path, catalog)


@pytest.mark.parametrize("text", [
    "[" * 5000 + "]" * 5000,  # nested too deeply for the parser
    "name: " + "9" * 5000,  # an integer Python will not convert
    "name: \x00",  # a character YAML does not allow
    "? [a, b]\n: 1\n",  # a list as a key
    "a: &a [1, 1, 1]\n" + "".join(f"b{i}: &b{i} [*a, *a, *a]\n" for i in range(40)),  # many aliases
])
def test_hostile_yaml_is_one_clear_line_and_exit_2(tmp_path, text):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    _one_line_naming(result, str(path))


@FUZZ
@given(st.binary(max_size=200) | NESTED.map(yaml.safe_dump))
def test_validate_says_one_thing_per_line_and_exits_2(tmp_path, content):
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code in (0, 2) and "Traceback" not in result.output
    if result.exit_code == 2:
        assert all(line.startswith(str(path)) for line in result.stderr.strip().splitlines())


# --- the model file -------------------------------------------------------------------

def _other_inputs_model(path: Path) -> None:
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 96, 96])
    y = helper.make_tensor_value_info("heatmap", TensorProto.FLOAT, ["batch", 3, 96, 96])
    graph = helper.make_graph([helper.make_node("Identity", ["image"], ["heatmap"])], "other", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


@pytest.mark.parametrize(("make", "words"), [
    ("text", "not a valid ONNX model"),
    ("truncated", "not a valid ONNX model"),
    ("other_inputs", "has no input 'frames'"),
    ("missing", "no such file"),
])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_bad_model_file_is_a_validate_time_error(tmp_path, make, words, command, monkeypatch):
    monkeypatch.setattr(fleetsim, "run", lambda *a, **k: pytest.fail("simulated with a bad model"))
    model = tmp_path / "model.onnx"
    if make == "text":
        model.write_text("this is not a model")
    elif make == "truncated":
        data = (BASELINE_DIR / "baseline_int8.onnx").read_bytes()
        model.write_bytes(data[: len(data) // 2])
    elif make == "other_inputs":
        _other_inputs_model(model)
    path = write_yaml(tmp_path, with_overrides(small(), detector__model="model.onnx"))
    args = (["run", str(path), "--out", str(tmp_path / "out"), "-q"] if command == "run"
            else ["validate", str(path)])
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert f"{path}:" in result.stderr and "detector.model" in result.stderr and words in result.stderr
    assert "Traceback" not in result.output


def test_the_shipped_models_pass_the_check():
    from fleetsim.detector.baseline import VARIANTS, baseline_path
    from fleetsim.detector.interface import INPUT, OUTPUTS
    from fleetsim.scenario import model_file
    from fleetsim.scenario.model_file import model_path, model_problems

    assert (model_file.INPUT, model_file.OUTPUTS) == (INPUT, OUTPUTS)  # what the runtime feeds
    assert set(BASELINE_VARIANTS) == set(VARIANTS)
    for variant in VARIANTS:
        assert model_path(variant, None) == baseline_path(variant)
        assert model_problems(variant, None) == []


def test_a_shipped_model_is_trusted_only_while_its_bytes_match_its_card(tmp_path, monkeypatch):
    import json
    import shutil

    from fleetsim.scenario import model_file

    assert all(model_file._shipped_intact(v) for v in BASELINE_VARIANTS)  # validate skips onnx for these
    with monkeypatch.context() as patch:  # the full onnx check agrees with the recorded bytes
        patch.setattr(model_file, "_shipped_intact", lambda spec: False)
        assert all(model_file.model_problems(v, None) == [] for v in BASELINE_VARIANTS)
    card = json.loads((BASELINE_DIR / "model_card.json").read_text())
    card["variants"]["int8"]["sha256"] = "0" * 64
    (tmp_path / "model_card.json").write_text(json.dumps(card))
    shutil.copy(BASELINE_DIR / "baseline_int8.onnx", tmp_path)
    monkeypatch.setattr(model_file, "BASELINE_DIR", tmp_path)
    assert not model_file._shipped_intact("int8")
    (tmp_path / "baseline_int8.onnx").write_bytes(b"damaged")
    assert "not a valid ONNX model" in model_file.model_problems("int8", None)[0]


# --- damaged run folders --------------------------------------------------------------

@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    results = fleetsim.run(Scenario.model_validate(small()))
    return results.save(tmp_path_factory.mktemp("saved") / "run")


@pytest.mark.parametrize("damage", ["empty_mapping", "list", "strings_for_numbers", "truncated_parquet",
                                    "group_strings", "bad_scenario_yaml"])
def test_report_and_compare_on_a_damaged_folder_are_one_line_and_exit_2(saved, tmp_path, damage):
    folder = tmp_path / "run"
    shutil.copytree(saved, folder)
    summary = json.loads((folder / "summary.json").read_text())
    if damage == "empty_mapping":
        summary = {}
    elif damage == "list":
        summary = [1, 2]
    elif damage == "strings_for_numbers":
        summary["latency_ms"]["p99"] = "7.1"
    elif damage == "group_strings":
        next(iter(summary["groups"].values()))["frames"]["generated"] = "many"
    elif damage == "truncated_parquet":
        table = folder / "tables" / "latency_histogram.parquet"
        table.write_bytes(table.read_bytes()[:-40])
    else:
        (folder / "scenario.resolved.yaml").write_text("fleet: [unclosed", encoding="utf-8")
    (folder / "summary.json").write_text(json.dumps(summary))
    seal(folder, scenario_sha256(folder))  # complete, so only the content check can catch it
    for args in (["report", str(folder), "--out", str(tmp_path / "page.html")],
                 ["compare", str(folder), str(saved), "--out", str(tmp_path / "cmp.html")]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        _one_line_naming(result, str(folder))
    assert not (tmp_path / "page.html").exists()


# --- failures of the machine ----------------------------------------------------------

def test_a_full_disk_while_writing_is_one_line_exit_1_and_leaves_nothing(tmp_path, monkeypatch):
    def full(self, path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    path = write_yaml(tmp_path, small())
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 1
    _one_line_naming(result, "No space left on device")
    assert ".parquet" in result.stderr
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*partial*"))


def test_an_unexpected_error_is_one_line_and_debug_shows_it(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("[ONNXRuntimeError] : 1 : FAIL : Non-zero status code returned\nwhile running")

    monkeypatch.setattr(fleetsim, "run", broken)
    monkeypatch.delenv("FLEETSIM_DEBUG", raising=False)
    path = write_yaml(tmp_path, small())
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 1
    _one_line_naming(result, "ONNXRuntimeError")
    assert "--debug" in result.stderr
    monkeypatch.setenv("FLEETSIM_DEBUG", "")
    result = runner.invoke(app, ["--debug", "run", str(path), "--out", str(tmp_path / "out2"), "-q"])
    assert isinstance(result.exception, RuntimeError)
