"""A small anchor-free, CenterNet-style detector made of Conv/BN/ReLU blocks.

The backbone brings a frame to stride 4 and widens the receptive field with dilated
convolutions; three 1x1 heads give per-cell class heatmaps (sigmoid), box sizes and
sub-cell centre offsets. ``widths`` sets the channels of every block, so a pruned
model is the same architecture with fewer channels.

>>> import torch
>>> net = CenterNet()
>>> [tuple(t.shape) for t in net(torch.zeros(2, 3, 96, 96))]
[(2, 4, 24, 24), (2, 2, 24, 24), (2, 2, 24, 24)]
"""

from __future__ import annotations

import torch
from torch import nn

from fleetsim.world.scene import CLASSES

DEFAULT_WIDTHS = (16, 32, 48, 48, 48, 48)
# (stride, dilation) of each 3x3 block; the first two halve the resolution.
BLOCKS = ((2, 1), (2, 1), (1, 1), (1, 2), (1, 4), (1, 1))


def conv_block(c_in: int, c_out: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class CenterNet(nn.Module):
    """Frames (B, 3, H, W) in [0, 1] -> heatmap (B, C, H/4, W/4), size (B, 2, ..), offset (B, 2, ..)."""

    def __init__(self, widths: tuple[int, ...] = DEFAULT_WIDTHS, classes: int = len(CLASSES)):
        super().__init__()
        if len(widths) != len(BLOCKS):
            raise ValueError(f"widths needs {len(BLOCKS)} entries, got {len(widths)}")
        self.widths = tuple(widths)
        layers, c_in = [], 3
        for c_out, (stride, dilation) in zip(widths, BLOCKS, strict=True):
            layers.append(conv_block(c_in, c_out, stride, dilation))
            c_in = c_out
        self.backbone = nn.Sequential(*layers)
        self.heatmap = nn.Conv2d(c_in, classes, 1)
        self.size = nn.Conv2d(c_in, 2, 1)
        self.offset = nn.Conv2d(c_in, 2, 1)
        nn.init.constant_(self.heatmap.bias, -2.19)  # prior 0.1, as in CenterNet

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        features = self.backbone(frames)
        return torch.sigmoid(self.heatmap(features)), self.size(features), self.offset(features)
