"""MobileNet v1 and v2 ImageNet classifiers (TF-slim layout, 1001 classes), and their blocks.

The blocks here (:func:`conv_bn`, :class:`InvertedResidual`, :class:`FusedConv`) are shared
with the other families; :func:`conv_bn` is every family's Conv-BN-activation block.
Convolutions pad by ``k // 2``, which gives the same output sizes (so the same MACs) as
TensorFlow's 'SAME' padding. Both classifiers end, as in TF-slim, in a 1x1 convolution to
1001 logits (ImageNet plus background) after global pooling.

- ``mobilenet_v1_224``: 3x3 stem and 13 depthwise-separable blocks (Howard et al., Table 1).
- ``mobilenet_v2_224``: 3x3 stem, 17 inverted residual bottlenecks, 1x1 conv to 1280
  (Sandler et al., Table 2).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from fleetsim.tools.architectures import Architecture, register

SLIM_CLASSES = 1001  # ImageNet classes plus background, as in the TF-slim checkpoints

# MobileNet v1: (pointwise output channels, depthwise stride) of Conv2d_1 ... Conv2d_13
V1_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), *[(512, 1)] * 5, (1024, 2), (1024, 1))
# MobileNet v2: (expansion t, output channels c, repeats n, first stride s), Sandler et al. Table 2
V2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
             (6, 320, 1, 1))


Kernel = int | tuple[int, int]


def conv_bn(c_in: int, c_out: int, k: Kernel = 1, stride: int = 1, groups: int = 1,
            act: Callable[[], nn.Module] | None = nn.ReLU6, padding: Kernel | None = None) -> nn.Sequential:
    """Conv (no bias; 'same' padding unless ``padding`` is given) + batch norm, followed by ``act``
    unless it is None. The Conv-BN-activation block of every architecture family here."""
    kh, kw = (k, k) if isinstance(k, int) else k
    pad = (kh // 2, kw // 2) if padding is None else padding
    layers = [nn.Conv2d(c_in, c_out, (kh, kw), stride, pad, groups=groups, bias=False), nn.BatchNorm2d(c_out)]
    return nn.Sequential(*layers, act()) if act else nn.Sequential(*layers)


def depthwise(channels: int, k: int = 3, stride: int = 1,
              act: type[nn.Module] | None = nn.ReLU6) -> nn.Sequential:
    """Depthwise k x k conv (groups == channels) + batch norm + ``act``."""
    return conv_bn(channels, channels, k, stride, groups=channels, act=act)


class InvertedResidual(nn.Module):
    """1x1 expansion to ``hidden`` (none when hidden == c_in), depthwise k x k, linear 1x1 projection."""

    def __init__(self, c_in: int, hidden: int, c_out: int, k: int = 3, stride: int = 1,
                 act: type[nn.Module] = nn.ReLU6, skip: bool = True):
        super().__init__()
        self.expand = conv_bn(c_in, hidden, act=act) if hidden != c_in else nn.Identity()
        self.reduce = nn.Sequential(depthwise(hidden, k, stride, act), conv_bn(hidden, c_out, act=None))
        self.residual = skip and stride == 1 and c_in == c_out

    def forward(self, x: Tensor) -> Tensor:
        y = self.reduce(self.expand(x))
        return x + y if self.residual else y


class FusedConv(nn.Module):
    """Fused inverted residual: full k x k expansion conv to ``hidden``, linear 1x1 projection."""

    def __init__(self, c_in: int, hidden: int, c_out: int, k: int = 3, stride: int = 1,
                 act: type[nn.Module] = nn.ReLU6, skip: bool = True):
        super().__init__()
        self.body = nn.Sequential(conv_bn(c_in, hidden, k, stride, act=act), conv_bn(hidden, c_out, act=None))
        self.residual = skip and stride == 1 and c_in == c_out

    def forward(self, x: Tensor) -> Tensor:
        y = self.body(x)
        return x + y if self.residual else y


def classifier(c_in: int, classes: int = SLIM_CLASSES) -> nn.Sequential:
    """Global average pool and a 1x1 conv to the logits (TF-slim 'Conv2d_1c_1x1')."""
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c_in, classes, 1), nn.Flatten())


def depth(channels: int, multiplier: float = 1.0, min_depth: int = 8) -> int:
    """TF-slim's depth multiplier: ``max(int(channels * multiplier), min_depth)``."""
    return max(int(channels * multiplier), min_depth)


def mobilenet_v1_layers(multiplier: float = 1.0) -> list[nn.Module]:
    """Conv2d_0 (3x3 stem) and the 13 depthwise-separable blocks Conv2d_1 ... Conv2d_13, every
    width times the depth ``multiplier``."""
    c_in = depth(32, multiplier)
    layers: list[nn.Module] = [conv_bn(3, c_in, 3, 2)]
    for c_out, stride in V1_BLOCKS:
        c_out = depth(c_out, multiplier)
        layers.append(nn.Sequential(depthwise(c_in, 3, stride), conv_bn(c_in, c_out)))
        c_in = c_out
    return layers


def mobilenet_v2_layers() -> list[nn.Module]:
    """TF-slim ``layer_1`` (stem) ... ``layer_19`` (1x1 conv to 1280), in order."""
    layers: list[nn.Module] = [conv_bn(3, 32, 3, 2)]
    c_in = 32
    for t, c_out, repeats, first_stride in V2_STAGES:
        for index in range(repeats):
            layers.append(InvertedResidual(c_in, c_in * t, c_out, stride=first_stride if index == 0 else 1))
            c_in = c_out
    layers.append(conv_bn(c_in, 1280))
    return layers


def mobilenet_v1() -> nn.Module:
    """MobileNet v1 1.0: 569 M MACs and 4.2 M parameters at 224 in the paper."""
    return nn.Sequential(*mobilenet_v1_layers(), classifier(1024)).eval()


def mobilenet_v2() -> nn.Module:
    """MobileNetV2 1.0: 300 M MACs and 3.4 M parameters at 224 in the paper."""
    return nn.Sequential(*mobilenet_v2_layers(), classifier(1280)).eval()


register(Architecture(
    id="mobilenet_v1_224", build=mobilenet_v1, input_size=224,
    reference="Howard et al., arXiv:1704.04861 (MobileNet v1 1.0); layout of GitHub tensorflow/models "
              "research/slim/nets/mobilenet_v1.py (mobilenet_v1, 1001 classes)"))
register(Architecture(
    id="mobilenet_v2_224", build=mobilenet_v2, input_size=224,
    reference="Sandler et al., arXiv:1801.04381 (MobileNetV2 1.0); layout of GitHub tensorflow/models "
              "research/slim/nets/mobilenet/mobilenet_v2.py (V2_DEF, 1001 classes)"))
