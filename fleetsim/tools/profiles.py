"""Generate the per-layer workload profiles stored as CSV (read by ``fleetsim.hardware.workload``).

``hardware_models/workloads/profiles/<id>.csv`` holds one row per compute layer of the
architecture's ONNX graph at batch 1 (see :mod:`fleetsim.hardware.graph`). The files are
generated, never hand-edited:

    python -m fleetsim.tools.profiles [ID ...]     # rewrite the named (or all) profiles
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

import torch

from fleetsim.hardware.graph import profile_graph
from fleetsim.hardware.workload import Layer, profile_path, write_profile
from fleetsim.tools.architectures import Architecture, architecture, architecture_ids

OPSET = 17


def export_architecture(arch: Architecture, path: Path) -> Path:
    """Write ``arch`` (random weights) as an fp32 ONNX graph at batch 1."""
    model = arch.build().eval()
    size = arch.input_size
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.zeros(1, 3, size, size), str(path), dynamo=False,
                          input_names=["image"], opset_version=OPSET)
    return path


def architecture_layers(arch: Architecture) -> list[Layer]:
    """Profile of ``arch``'s exported graph, plus an 'nms' layer over its candidate boxes."""
    with tempfile.TemporaryDirectory() as tmp:
        layers = profile_graph(export_architecture(arch, Path(tmp) / f"{arch.id}.onnx"))
    if arch.detections:
        layers.append(Layer("nms", "nms", 0, 0, arch.detections * 4, 0))
    return layers


def detector_graphs() -> dict[str, Path]:
    """Workload ids of the project's shipped detector variants and their ONNX files."""
    from fleetsim.detector.baseline import baseline_path

    return {"fleetsim_centernet_96": baseline_path("int8"),
            "fleetsim_centernet_96_pruned": baseline_path("pruned_int8")}


def workload_layers(workload_id: str) -> list[Layer]:
    """Layers of a shipped detector variant's graph, or of a reference architecture."""
    graphs = detector_graphs()
    if workload_id in graphs:
        return profile_graph(graphs[workload_id])
    return architecture_layers(architecture(workload_id))


def main(argv: list[str]) -> None:
    from fleetsim.hardware.catalog import default_hardware_dir

    root = default_hardware_dir()
    for workload_id in argv or [*detector_graphs(), *architecture_ids()]:
        layers = workload_layers(workload_id)
        write_profile(layers, profile_path(root, workload_id))
        print(f"{workload_id}: {len(layers)} layers, {sum(x.macs for x in layers) / 1e9:.3f} GMAC, "
              f"{sum(x.weights for x in layers) / 1e6:.2f} M weights")


if __name__ == "__main__":
    main(sys.argv[1:])
