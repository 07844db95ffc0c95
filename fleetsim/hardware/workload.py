"""A workload as the inference model costs it: its catalog spec and its layers.

Reference workloads take their layers from ``hardware_models/workloads/profiles/<id>.csv``
(generated from ``fleetsim.hardware.architectures``); an ONNX file is profiled directly.
A workload known only by published totals is costed as one dense layer (``per_layer`` False).
"""

from __future__ import annotations

from dataclasses import dataclass

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
