"""A workload as the inference model costs it: its catalog spec and its layers.

Reference workloads take their layers from ``hardware_models/workloads/profiles/<id>.csv``
(generated from ``fleetsim.tools.architectures``); an ONNX file is profiled directly.
A workload known only by published totals is costed as one dense layer (``per_layer`` False).
"""

from __future__ import annotations

import csv
from dataclasses import astuple, dataclass, fields, replace
from pathlib import Path

from fleetsim.hardware.specs import WorkloadSpec


@dataclass(frozen=True)
class Layer:
    """One compute node of a graph at batch 1."""

    name: str
    op_class: str  # see fleetsim.hardware.specs.OperatorClass
    macs: int  # multiply-accumulates (0 for data movement)
    weights: int  # weight elements read
    inputs: int  # activation elements read
    outputs: int  # activation elements written

    @property
    def pointwise(self) -> bool:
        """A dense conv whose kernel covers one input pixel (a plain GEMM): kernel area estimated as
        MACs^2 / (outputs x weights x inputs), which is k_h k_w at stride 1 and below 1 for a strided 1x1."""
        if self.op_class != "conv" or not (self.macs and self.inputs and self.weights and self.outputs):
            return False
        return self.macs ** 2 / (self.outputs * self.weights * self.inputs) < 1.5


@dataclass(frozen=True)
class Workload:
    """A network's spec and its compute layers at batch 1."""

    spec: WorkloadSpec
    layers: tuple[Layer, ...]
    per_layer: bool

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def macs(self) -> float:
        """Multiply-accumulates per inference, summed over the layers."""
        return float(sum(layer.macs for layer in self.layers))

    @property
    def input_elements(self) -> int:
        """Elements of the input image (3 x side x side)."""
        return 3 * self.spec.input_size ** 2

    @classmethod
    def from_totals(cls, spec: WorkloadSpec) -> Workload:
        """One dense layer holding the published MACs and weights."""
        layer = Layer("totals", "conv", int(spec.macs.value), int(spec.params.value), 0, 0)
        return cls(spec, (layer,), per_layer=False)


def without_postprocess(workload: Workload) -> Workload:
    """``workload`` ending at its detection head's raw outputs: its nms layer (decode, threshold and
    suppression) left out."""
    return replace(workload, layers=tuple(layer for layer in workload.layers if layer.op_class != "nms"))


def compressed(workload: Workload, graph: Workload, baseline: Workload) -> Workload:
    """``workload`` (a production network) compressed as ``graph`` (a detector variant's own graph) is
    against ``baseline`` (the baseline detector's graph): every layer's MACs scaled by the graphs' ratio
    of MACs, its weights by their ratio of parameters, its activations by their ratio of activation
    elements, and the spec's totals likewise. A graph of the baseline's network (fp32, fp16, any int8
    of the baseline's weights) leaves ``workload`` as it is."""
    macs = graph.macs / baseline.macs
    weights = graph.spec.params.value / baseline.spec.params.value
    activations = _activations(graph) / _activations(baseline)
    if macs == weights == activations == 1.0:
        return workload
    layers = tuple(replace(layer, macs=round(layer.macs * macs), weights=round(layer.weights * weights),
                           inputs=round(layer.inputs * activations),
                           outputs=round(layer.outputs * activations))
                   for layer in workload.layers)
    spec = workload.spec
    spec = spec.model_copy(update={
        "macs": spec.macs.model_copy(update={"value": spec.macs.value * macs}),
        "params": spec.params.model_copy(update={"value": spec.params.value * weights})})
    return Workload(spec, layers, workload.per_layer)


def _activations(workload: Workload) -> float:
    """Activation elements the compute layers read and write."""
    return float(sum(layer.inputs + layer.outputs for layer in workload.layers if layer.macs))


def profile_path(hardware_dir: Path, workload_id: str) -> Path:
    """Where the stored per-layer profile of ``workload_id`` lives."""
    return hardware_dir / "workloads" / "profiles" / f"{workload_id}.csv"


def write_profile(layers: list[Layer], path: Path) -> Path:
    """Write ``layers`` as CSV with a header row."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(f.name for f in fields(Layer))
        writer.writerows(astuple(layer) for layer in layers)
    return path


def read_profile(path: Path) -> list[Layer]:
    """The layers stored at ``path``."""
    with path.open(newline="") as src:
        rows = list(csv.DictReader(src))
    return [Layer(r["name"], r["op_class"], int(r["macs"]), int(r["weights"]), int(r["inputs"]),
                  int(r["outputs"])) for r in rows]
