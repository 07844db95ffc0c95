"""Compiling a release for its targets: compilers as data, the rollout step, the lineage, FPGA cards."""

from __future__ import annotations

import shutil

import pytest
import yaml

import fleetsim
from fleetsim.cloud.compiling import compile_targets
from fleetsim.errors import ScenarioError, UnknownNameError
from fleetsim.hardware.catalog import load_catalog
from fleetsim.hardware.inference import inference_cost
from fleetsim.paths import PROJECT_ROOT
from fleetsim.scenario.models import Scenario
from fleetsim.scenario.references import check_references
from tests.conftest import small_scenario_data, with_overrides


@pytest.fixture(scope="module")
def run():
    """The small two-group fleet (Coral USB, Raspberry Pi 4) with every vehicle in the canary, so each
    download starts as soon as its group's compile allows."""
    data = with_overrides(small_scenario_data(), cloud__rollout={"canary_fraction": 1.0})
    return fleetsim.run(Scenario.model_validate(data))


def _catalog_copy(tmp_path, edit, name="hw"):
    """A copy of hardware_models/ with ``edit(root)`` applied to it (load_catalog caches by path)."""
    root = tmp_path / name
    shutil.copytree(PROJECT_ROOT / "hardware_models", root)
    edit(root)
    return root


def _workloads(scenario, workload):
    """Every variant the scenario's fleet runs costed as ``workload``."""
    return {variant: workload for variant in scenario.variants()}


def _edit_yaml(path, **changes):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def test_each_release_is_compiled_once_per_variant_and_compiler_and_delays_only_its_groups(run):
    compiles, swaps = run.tables["model_compiles"], run.tables["model_swaps"]
    released = swaps.loc[~swaps["rollback"], "to_version"].unique()
    assert len(released) >= 1
    for version in released:
        rows = compiles[compiles["version"] == version].set_index("compiler")
        assert sorted(rows.index) == ["edgetpu_compiler", "none"]
        edgetpu, none = rows.loc["edgetpu_compiler"], rows.loc["none"]
        assert edgetpu["compile_s"] > 1.8 and none["compile_s"] == 0  # 1.82 s + 5.33 ms per layer
        assert edgetpu["t_start_s"] == none["t_start_s"]  # both start at the release
        mine = swaps[(swaps["to_version"] == version) & ~swaps["rollback"]]
        coral = mine[mine["group"] == "coral"]["t_download_start_s"]
        rpi = mine[mine["group"] == "rpi"]["t_download_start_s"]
        assert len(coral) and coral.tolist() == pytest.approx([edgetpu["t_start_s"] + edgetpu["compile_s"]]
                                                              * len(coral))
        assert len(rpi) and rpi.tolist() == pytest.approx([none["t_start_s"]] * len(rpi))


def test_the_lineage_records_compiler_targets_time_cost_and_what_is_left_to_the_host(run, catalog):
    row = run.tables["model_compiles"].query("compiler == 'edgetpu_compiler'").iloc[0]
    assert (row["devices"], row["groups"], row["variant"], row["runs_on"]) == ("coral_usb", "coral", "int8",
                                                                              "cpu_server")
    node = catalog.device("cpu_server")
    assert row["cost_usd"] == pytest.approx(row["compile_s"] * node.hourly_price.value)
    assert row["energy_j"] == pytest.approx(row["compile_s"] * node.active_power.value)
    assert row["layers_mapped"] + row["layers_on_host"] == row["layers"] and row["layers_on_host"] >= 1
    assert "nms" in row["host_ops"].split(",")  # the detector's decoding: the Edge TPU leaves it to the CPU
    retraining = run.summary["retraining"]
    assert retraining["compiles"] == len(run.tables["model_compiles"])
    assert retraining["compile_cost_usd"] == pytest.approx(run.tables["model_compiles"]["cost_usd"].sum())


def test_the_compile_split_is_the_hardware_models_fallback(catalog):
    workload = catalog.profile("ssd_mobilenet_v2_300")
    scenario = Scenario.model_validate(small_scenario_data())
    for name, (target,) in compile_targets(scenario, catalog, _workloads(scenario, workload)).items():
        device = catalog.device(target.devices[0])
        cost = inference_cost(device, workload, target.variant, catalog,
                              host=catalog.vehicle_host(device.id))
        assert target.layers - target.mapped == cost.fallback_layers, name
        assert device.operators == target.compiler.operators  # one list: the compiler's


def test_an_offloading_group_waits_for_its_servers_compile_too(catalog):
    data = with_overrides(small_scenario_data(),
                          cloud__inference={"accelerator": "alveo_u250", "source": "test"})
    data["fleet"]["groups"][1].update(placement="cloud")
    scenario = Scenario.model_validate(data)
    workload = catalog.profile("ssd_mobilenet_v2_300")
    targets = compile_targets(scenario, catalog, _workloads(scenario, workload))
    assert [t.compiler.id for t in targets["coral"]] == ["edgetpu_compiler"]
    none, vitis = sorted(targets["rpi"], key=lambda t: t.compiler.id)
    assert (none.compiler.id, vitis.compiler.id, vitis.devices) == ("none", "vitis_ai", ("alveo_u250",))
    assert vitis.mapped < vitis.layers and "nms" in vitis.host_ops  # the DPU leaves the decoding to the host


def test_an_op_the_compiler_does_not_map_falls_back_to_the_host(tmp_path, catalog):
    def drop_resize(root):  # a TensorRT for the Orin Nano alone that leaves resize to the host
        tensorrt = yaml.safe_load((root / "compilers" / "tensorrt.yaml").read_text(encoding="utf-8"))
        _edit_yaml(root / "compilers" / "tensorrt.yaml",
                   devices=[d for d in tensorrt["devices"] if d != "jetson_orin_nano"])
        (root / "compilers" / "narrow.yaml").write_text(yaml.safe_dump(
            {**tensorrt, "id": "narrow", "devices": ["jetson_orin_nano"],
             "operators": ["conv", "depthwise_conv", "matmul", "elementwise", "activation", "pooling",
                           "reshape_concat", "softmax", "nms"]}), encoding="utf-8")
        _edit_yaml(root / "edge" / "jetson_orin_nano.yaml", host_cpu="rpi5_cpu")

    narrowed = load_catalog(_catalog_copy(tmp_path, drop_resize))
    workload = catalog.profile("yolov5s_640")  # an upsampling neck: resize layers mid-graph
    assert any(layer.op_class == "resize" for layer in workload.layers)
    before = inference_cost(catalog.device("jetson_orin_nano"), workload, "int8", catalog)
    after = inference_cost(narrowed.device("jetson_orin_nano"), narrowed.profile("yolov5s_640"), "int8",
                           narrowed)
    assert before.fallback_layers == 0 and after.fallback_layers > 0 and after.fallback_s > 0
    assert after.latency_s > before.latency_s


def test_tensorrt_builds_one_engine_per_gpu_model_each_on_its_own_device(catalog):
    data = with_overrides(small_scenario_data(), cloud__inference={"accelerator": "a100", "source": "test"})
    data["fleet"]["groups"][0].update(accelerator="jetson_orin_nano")
    data["fleet"]["groups"][1].update(accelerator="jetson_orin_nano", placement="cloud")
    scenario = Scenario.model_validate(data)
    workload = catalog.profile("ssd_mobilenet_v2_300")
    targets = compile_targets(scenario, catalog, _workloads(scenario, workload))
    (orin,) = targets["coral"]
    assert {t.devices for t in targets["rpi"]} == {("jetson_orin_nano",), ("a100",)}
    assert orin in targets["rpi"] and orin.groups == ("coral", "rpi")  # one Orin engine, both groups
    a100 = next(t for t in targets["rpi"] if t.devices == ("a100",))
    tensorrt = catalog.compilers["tensorrt"]
    assert (orin.runs_on, a100.runs_on) == ("jetson_orin_nano", "a100")
    assert orin.price_per_s == pytest.approx(catalog.device("jetson_orin_nano").unit_price.value
                                             / tensorrt.host_life.value)
    assert a100.price_per_s == catalog.device("a100").hourly_price.value
    assert (orin.power_w, a100.power_w) == (catalog.device("jetson_orin_nano").active_power.value,
                                            catalog.device("a100").active_power.value)
    # a Jetson with no price of its own is billed at the stand-in node's hour
    xavier = next(iter(compile_targets(
        Scenario.model_validate(with_overrides(data, fleet__groups=[
            {**data["fleet"]["groups"][0], "accelerator": "jetson_agx_xavier"}])),
        catalog, {"int8": catalog.profile("ssd_mobilenet_v2_300")})["coral"]))
    assert xavier.runs_on == "jetson_agx_xavier"
    assert xavier.price_per_s == catalog.device(tensorrt.runs_on.value).hourly_price.value


def test_each_build_counts_the_layers_of_the_variant_it_compiles(catalog):
    data = small_scenario_data()
    data["fleet"]["groups"][0].update(accelerator="jetson_orin_nano", precision="fp16")
    data["fleet"]["groups"][1].update(accelerator="jetson_orin_nano", precision="int8")
    scenario = Scenario.model_validate(data)
    small, large = catalog.profile("ssd_mobilenet_v2_300"), catalog.profile("yolov5s_640")
    assert len(small.layers) != len(large.layers)
    targets = compile_targets(scenario, catalog, {"fp16": small, "int8": large})
    (fp16,), (int8,) = targets["coral"], targets["rpi"]
    assert (fp16.variant, fp16.layers) == ("fp16", len(small.layers))
    assert (int8.variant, int8.layers) == ("int8", len(large.layers))


@pytest.mark.parametrize("edit, message", [
    (lambda root: _edit_yaml(root / "compilers" / "vitis_ai.yaml", devices=["kria_kv260", "kria_kv999"]),
     "devices[1]: unknown hardware model 'kria_kv999'"),
    (lambda root: _edit_yaml(root / "compilers" / "none.yaml", devices=["rpi4_cpu", "coral_usb"]),
     "'coral_usb' is already compiled by"),
    (lambda root: _edit_yaml(root / "edge" / "hailo8.yaml", operators=["conv"]),
     "operators: set by compiler hailo_dfc (allowed: remove it from the device file)"),
    (lambda root: _edit_yaml(root / "compilers" / "hailo_dfc.yaml",
                             runs_on={"value": "rpi5_cpu", "source": "a CPU"}),
     "'rpi5_cpu' is not a device with an hourly_price (allowed: "),
    (lambda root: _edit_yaml(root / "compilers" / "hailo_dfc.yaml", runs_on=None),
     "runs_on is required unless per_device is true"),
    (lambda root: _edit_yaml(root / "compilers" / "tensorrt.yaml", runs_on=None,
                             devices=["jetson_orin_nano", "jetson_agx_xavier", "a100"]),
     "'jetson_agx_xavier' builds on itself but has no hourly_price, nor a unit_price"),
])
def test_a_bad_compiler_file_is_one_clear_line(tmp_path, edit, message):
    with pytest.raises(ScenarioError) as error:
        load_catalog(_catalog_copy(tmp_path, edit))
    assert message in str(error.value)
    assert len(str(error.value).strip().splitlines()) == 1


def test_a_device_no_compiler_names_runs_the_model_as_it_is(tmp_path):
    root = _catalog_copy(tmp_path, lambda root: _edit_yaml(root / "compilers" / "none.yaml",
                                                           devices=["rpi4_cpu"]))
    assert load_catalog(root).compiler_of("rpi5_cpu").id == "none"
    bare = _catalog_copy(tmp_path, lambda root: (root / "compilers" / "none.yaml").unlink(), name="bare")
    with pytest.raises(UnknownNameError, match="rpi5_cpu: no compiler in .* names this device"):
        load_catalog(bare).compiler_of("rpi5_cpu")


def test_fpga_cards_load_as_cloud_inference_nodes_and_are_costed(catalog):
    u250 = catalog.device("alveo_u250")
    assert (u250.kind, u250.accelerator_class, catalog.compiler_of("alveo_u250").id) == ("cloud", "fpga",
                                                                                          "vitis_ai")
    assert u250.operators == catalog.device("kria_kv260").operators
    data = with_overrides(small_scenario_data(), cloud__retraining={"kind": "never"},
                          cloud__inference={"accelerator": "alveo_u250", "servers": 2, "source": "test"})
    data["simulation"]["duration"] = "2 min"
    data["fleet"]["groups"][1].update(placement="cloud", cell="town_lte")
    results = fleetsim.run(Scenario.model_validate(data))
    servers = results.tables["inference_servers"].set_index("site").iloc[0]
    assert servers["accelerator"] == "alveo_u250" and servers["frames_served"] > 0
    assert servers["cost_usd"] == pytest.approx(2 * u250.hourly_price.value * 120)
    assert results.summary["offload"]["remote_inference_usd"] == pytest.approx(servers["cost_usd"])


def test_the_intel_fpga_card_is_an_inference_node_compiled_by_the_fpga_ai_suite(catalog):
    card = catalog.device("intel_pac_a10")
    assert (card.kind, card.accelerator_class, catalog.compiler_of(card.id).id) == ("cloud", "fpga",
                                                                                    "fpga_ai_suite")
    cost = inference_cost(card, catalog.profile("ssd_mobilenet_v2_300"), "int8", catalog)
    assert cost.latency_s > 0 and cost.fallback_layers > 0  # the decoding runs on the host (HETERO)


def test_an_fpga_card_cannot_train(catalog):
    data = with_overrides(small_scenario_data(), cloud__clusters=[
        {"name": "gpus", "device": "alveo_u250", "chips": 1, "startup": "30 s", "source": "test"}])
    problems = check_references(Scenario.model_validate(data), catalog)
    assert ("alveo_u250 has no bf16 peak to cost training with (allowed: a100, cpu_server, h100, l4, "
            "tpu_v4, tpu_v5e, tpu_v5p)") in [m for _, m in problems]
