"""Per-layer profiles of the reference workloads: present, generated, close to published totals."""

from __future__ import annotations

import pytest

from fleetsim.hardware.workload import read_profile
from fleetsim.tools.profiles import workload_layers
from tests.conftest import ROOT

PROFILES = ROOT / "hardware_models" / "workloads" / "profiles"
REQUIRED = ["mobilenet_v1_224", "mobilenet_v2_224", "ssd_mobilenet_v1_300", "ssd_mobilenet_v2_300",
            "ssdlite_mobilenet_v2_300", "efficientdet_lite0_320", "efficientdet_lite2_448", "resnet50_224",
            "inception_v4_299", "yolov5s_640", "yolov8n_640", "yolov8s_640", "tiny_yolov3_416"]


@pytest.mark.parametrize("workload_id", REQUIRED)
def test_required_reference_workloads_are_costed_per_layer(catalog, workload_id):
    workload = catalog.profile(workload_id)
    assert workload.per_layer and len(workload.layers) > 10
    assert {x.op_class for x in workload.layers} & {"conv", "depthwise_conv"}


def test_profiles_agree_with_published_totals(catalog):
    """Our architecture definitions count within 20 % of each workload's published MACs and params."""
    for path in sorted(PROFILES.glob("*.csv")):
        spec = catalog.workload(path.stem)
        layers = read_profile(path)
        macs, weights = sum(x.macs for x in layers), sum(x.weights for x in layers)
        assert macs == pytest.approx(spec.macs.value, rel=0.2), path.stem
        assert weights == pytest.approx(spec.params.value, rel=0.2), path.stem


@pytest.mark.parametrize("workload_id", ["mobilenet_v2_224", "fleetsim_centernet_96"])
def test_stored_profile_is_what_the_generator_writes(workload_id):
    assert workload_layers(workload_id) == read_profile(PROFILES / f"{workload_id}.csv")


@pytest.mark.slow
def test_every_stored_profile_is_what_the_generator_writes():
    for path in sorted(PROFILES.glob("*.csv")):
        assert workload_layers(path.stem) == read_profile(path), path.stem


def test_detectors_end_in_an_nms_layer(catalog):
    for workload_id in ("ssd_mobilenet_v2_300", "yolov8n_640", "efficientdet_lite0_320"):
        assert catalog.profile(workload_id).layers[-1].op_class == "nms"
    assert all(x.op_class != "nms" for x in catalog.profile("resnet50_224").layers)
