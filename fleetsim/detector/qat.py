"""Quantization-aware training: fine-tune the detector through the int8 rounding it will meet.

Each Conv/BatchNorm pair is folded as ONNX export folds it (running statistics frozen), its
folded weight fake-quantized per output channel to the 7-bit range static quantization uses
(``reduce_range``), and every activation the QDQ graph quantizes (the input, each block's
output, each head's pre-activation) fake-quantized to uint8 with moving min/max ranges.
Gradients pass the rounding straight through. The trained float weights then go through the
same static QDQ quantization as the other int8 variants, so the graph the fleet runs is
built the same way and differs only in weights that learnt to sit well on the int8 grid.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.ao.quantization import FakeQuantize, MovingAverageMinMaxObserver, PerChannelMinMaxObserver
from torch.nn import functional

from fleetsim.detector.model import CenterNet


def _weight_quantizer() -> FakeQuantize:
    return FakeQuantize(observer=PerChannelMinMaxObserver, quant_min=-64, quant_max=63, dtype=torch.qint8,
                        qscheme=torch.per_channel_symmetric, ch_axis=0)


def _activation_quantizer() -> FakeQuantize:
    return FakeQuantize(observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=255, dtype=torch.quint8,
                        qscheme=torch.per_tensor_affine)


class QuantizationAware(nn.Module):
    """``model`` run with folded, fake-quantized weights and fake-quantized activations;
    training it trains ``model``'s own parameters."""

    def __init__(self, model: CenterNet):
        super().__init__()
        self.model = model
        blocks = len(model.backbone)
        self.weights = nn.ModuleList(_weight_quantizer() for _ in range(blocks + 3))
        self.activations = nn.ModuleList(_activation_quantizer() for _ in range(blocks + 4))

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.activations[0](frames)
        for i, block in enumerate(self.model.backbone):
            conv, norm = block[0], block[1]
            scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
            weight = self.weights[i](conv.weight * scale[:, None, None, None])
            bias = norm.bias - norm.running_mean * scale
            x = functional.relu(functional.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation))
            x = self.activations[i + 1](x)
        heads = []
        for j, head in enumerate((self.model.heatmap, self.model.size, self.model.offset)):
            out = functional.conv2d(x, self.weights[len(self.model.backbone) + j](head.weight), head.bias)
            heads.append(self.activations[len(self.model.backbone) + 1 + j](out))
        return torch.sigmoid(heads[0]), heads[1], heads[2]
