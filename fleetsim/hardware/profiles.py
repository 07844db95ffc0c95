"""Per-layer workload profiles of the reference architectures, stored as CSV.

``hardware_models/workloads/profiles/<id>.csv`` holds one row per compute layer of the
architecture's ONNX graph at batch 1 (see :mod:`fleetsim.hardware.graph`). The files are
generated, never hand-edited:

    python -m fleetsim.hardware.profiles [ID ...]     # rewrite the named (or all) profiles
"""

from __future__ import annotations

import csv
import sys
import tempfile
import warnings
from dataclasses import astuple, fields
from pathlib import Path

import torch

from fleetsim.hardware.architectures import Architecture, architecture, architecture_ids
from fleetsim.hardware.graph import profile_graph
from fleetsim.hardware.workload import Layer

COLUMNS = [f.name for f in fields(Layer)]
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


def write_profile(layers: list[Layer], path: Path) -> Path:
    """Write ``layers`` as CSV with a header row."""
    with path.open("w", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(astuple(layer) for layer in layers)
    return path


def read_profile(path: Path) -> list[Layer]:
    """The layers stored at ``path``."""
    with path.open(newline="") as src:
        rows = list(csv.DictReader(src))
    return [Layer(r["name"], r["op_class"], int(r["macs"]), int(r["weights"]), int(r["inputs"]),
                  int(r["outputs"])) for r in rows]


def profile_dir(hardware_dir: Path) -> Path:
    return hardware_dir / "workloads" / "profiles"


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

    target = profile_dir(default_hardware_dir())
    target.mkdir(parents=True, exist_ok=True)
    for workload_id in argv or [*detector_graphs(), *architecture_ids()]:
        layers = workload_layers(workload_id)
        write_profile(layers, target / f"{workload_id}.csv")
        print(f"{workload_id}: {len(layers)} layers, {sum(x.macs for x in layers) / 1e9:.3f} GMAC, "
              f"{sum(x.weights for x in layers) / 1e6:.2f} M weights")


if __name__ == "__main__":
    main(sys.argv[1:])
