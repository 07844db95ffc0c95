"""Reference network architectures, defined in torch without weights.

Each family module (``mobilenet``, ``ssd``, ``efficientdet``, ``resnet``, ``inception``,
``yolo``) registers builders in :data:`ARCHITECTURES`. Exporting one to ONNX and profiling
the graph (``fleetsim.tools.profiles``) gives the per-layer workload profile that the
inference model costs: op class, MACs, weight and activation sizes of every layer.
Weights stay random; only shapes matter.

>>> from fleetsim.tools.architectures import architecture
>>> architecture("mobilenet_v2_224").input_size                      # doctest: +SKIP
224
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from fleetsim.errors import UnknownNameError


@dataclass(frozen=True)
class Architecture:
    """How to build one reference workload's network."""

    id: str  # workload id in hardware_models/workloads/
    build: Callable[[], nn.Module]  # returns the network in eval mode, input (1, 3, H, W)
    input_size: int  # square input side in pixels
    reference: str  # the paper or code the definition follows
    detections: int = 0  # boxes entering NMS per image (0 for classifiers): costed as an 'nms' layer


ARCHITECTURES: dict[str, Architecture] = {}


def register(arch: Architecture) -> Architecture:
    """Add ``arch`` to the registry (ids are unique)."""
    if arch.id in ARCHITECTURES:
        raise ValueError(f"architecture {arch.id} registered twice")
    ARCHITECTURES[arch.id] = arch
    return arch


def architecture(workload_id: str) -> Architecture:
    """The registered architecture of ``workload_id``, or a clear error listing the known ones."""
    _load_families()
    if workload_id not in ARCHITECTURES:
        from fleetsim.scenario.references import unknown_name_message

        raise UnknownNameError(unknown_name_message("architecture", workload_id, sorted(ARCHITECTURES)))
    return ARCHITECTURES[workload_id]


def architecture_ids() -> list[str]:
    """Every registered workload id, sorted."""
    _load_families()
    return sorted(ARCHITECTURES)


def _load_families() -> None:
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
