"""ResNet-50 v1 classifiers (bottleneck blocks, 1000 classes).

Two layouts of the same 3-4-6-3 bottleneck stack, as the workload files name them:

- ``resnet50_224``: torchvision layout ("v1.5"), each stage downsamples in its *first* unit
  with a strided 3x3 conv and a strided 1x1 projection shortcut.
- ``resnet50_299``: TF-slim ``resnet_v1_50`` layout, each of the first three stages downsamples
  in its *last* unit (strided 3x3, shortcut subsampled by a strided 1x1 max pool); projections
  sit in the first unit at stride 1. Cheaper than the torchvision layout at equal input size.
"""

from __future__ import annotations

from torch import Tensor, nn

from fleetsim.tools.architectures import Architecture, register
from fleetsim.tools.architectures.mobilenet import conv_bn

STAGES = ((64, 3), (128, 4), (256, 6), (512, 3))  # (bottleneck width, units); output is 4 x width
EXPANSION = 4


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carries the stride), 1x1 expand, plus the shortcut; ReLU after the sum."""

    def __init__(self, c_in: int, width: int, stride: int):
        super().__init__()
        c_out = width * EXPANSION
        self.residual = nn.Sequential(conv_bn(c_in, width, 1, act=nn.ReLU),
                                      conv_bn(width, width, 3, stride, act=nn.ReLU),
                                      conv_bn(width, c_out, 1, act=None))
        if c_in != c_out:
            self.shortcut = conv_bn(c_in, c_out, 1, stride, act=None)
        elif stride > 1:
            self.shortcut = nn.MaxPool2d(1, stride)
        else:
            self.shortcut = nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.residual(x) + self.shortcut(x))


def resnet50(stride_in_last_unit: bool, classes: int = 1000) -> nn.Module:
    """ResNet-50; ``stride_in_last_unit`` selects the TF-slim layout over the torchvision one."""
    layers: list[nn.Module] = [conv_bn(3, 64, 7, 2, act=nn.ReLU), nn.MaxPool2d(3, 2, 1)]
    c_in = 64
    for index, (width, units) in enumerate(STAGES):
        for unit in range(units):
            if stride_in_last_unit:
                stride = 2 if unit == units - 1 and index < len(STAGES) - 1 else 1
            else:
                stride = 2 if unit == 0 and index > 0 else 1
            layers.append(Bottleneck(c_in, width, stride))
            c_in = width * EXPANSION
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, classes)]
    return nn.Sequential(*layers).eval()


register(Architecture(
    id="resnet50_224", build=lambda: resnet50(stride_in_last_unit=False), input_size=224,
    reference="He et al., arXiv:1512.03385 (ResNet-50); layout of GitHub pytorch/vision "
              "torchvision/models/resnet.py (resnet50, stride in the 3x3 conv)"))
register(Architecture(
    id="resnet50_299", build=lambda: resnet50(stride_in_last_unit=True), input_size=299,
    reference="He et al., arXiv:1512.03385 (ResNet-50); layout of GitHub tensorflow/models "
              "research/slim/nets/resnet_v1.py (resnet_v1_50)"))
