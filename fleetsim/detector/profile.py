"""Size and compute of a detector's ONNX file (totals of ``fleetsim.hardware.graph``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from fleetsim.hardware.graph import profile_graph


@dataclass(frozen=True)
class GraphProfile:
    macs: int  # multiply-accumulates per frame
    params: int  # weight elements (Conv weights and biases)
    file_bytes: int
    conv_layers: int
    sha256: str  # of the file: validate trusts a shipped model whose bytes are these


def profile(path: Path | str) -> GraphProfile:
    layers = profile_graph(path)
    return GraphProfile(macs=sum(layer.macs for layer in layers),
                        params=sum(layer.weights for layer in layers),
                        file_bytes=Path(path).stat().st_size,
                        conv_layers=sum(layer.op_class in ("conv", "depthwise_conv") for layer in layers),
                        sha256=hashlib.sha256(Path(path).read_bytes()).hexdigest())
