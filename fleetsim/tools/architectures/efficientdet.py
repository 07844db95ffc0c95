"""EfficientDet-Lite detectors and EfficientNet-EdgeTPU classifiers.

EfficientDet-Lite (``efficientdet_lite0_320`` ... ``efficientdet_lite3_512``): an
EfficientNet-Lite backbone (EfficientNet-B0 stages scaled in width and depth, ReLU6, no
squeeze-excite, stem fixed at 32 channels, first and last stage depth not scaled) gives C3-C5;
P6 is a 1x1 conv + BN and a 3x3 stride-2 max pool of C5, P7 a max pool of P6. A BiFPN repeats
the eight-node top-down / bottom-up cell: inputs resampled to the node's level (1x1 conv + BN
where the channels differ, nearest-neighbour upsampling, 3x3 stride-2 max pooling), summed
unweighted (``fpn_weight_method='sum'``; effdet's ``bifpn_sum``), ReLU6, then a separable 3x3 conv
+ BN. Class and box nets of separable 3x3 convs + BN + ReLU6, shared over P3-P7 with a batch
norm per level, predict 9 anchors x 90 classes and 9 x 4 box codes. Outputs are the
concatenated box codes (1, anchors, 4) and class logits (1, anchors, 90); ``detections`` =
anchors. MACs equal the counts of the effdet ``tf_efficientdet_lite*`` definitions.

Weight counts exceed the published parameter counts (3.2 / 4.2 / 5.3 / 8.4 M: +11 / +13 /
+12 / +16 %) because the profile counts the weights of every layer and the class and box nets
run once per level: with each level's batch norm folded into the shared convs they are five
separate weight tensors, as in the exported TFLite and Hailo graphs. Our 3.55 / 4.73 / 5.93 M
equal the Hailo model zoo's counts of its exports (3.56 / 4.73 / 5.93 M; Lite3 is not listed),
and the torch modules' own parameters (3.24 / 4.25 / 5.25 / 8.35 M) the effdet counts.

EfficientNet-EdgeTPU (``efficientnet_edgetpu_s_224``, ``_m_240``, ``_l_300``): fused
inverted residuals (full k x k expansion conv, 1x1 projection) in the first three stages,
depthwise ones after, ReLU, no squeeze-excite; 1x1 conv to 1280 x width, pooling and a dense
layer to 1001 classes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fleetsim.tools.architectures import Architecture, register
from fleetsim.tools.architectures.mobilenet import SLIM_CLASSES, FusedConv, InvertedResidual, conv_bn

AUTOML = "GitHub google/automl efficientdet"
TPU_EDGETPU = "GitHub tensorflow/tpu models/official/efficientnet/edgetpu/efficientnet_edgetpu_builder.py"


@dataclass(frozen=True)
class Stage:
    """One EfficientNet block string, e.g. 'r2_k3_s22_e6_i16_o24' (plus 'c1' = fused, 'noskip')."""

    repeats: int
    kernel: int
    stride: int
    expansion: int
    c_in: int
    c_out: int
    fused: bool = False
    skip: bool = True


EFFICIENTNET_B0 = (
    Stage(1, 3, 1, 1, 32, 16), Stage(2, 3, 2, 6, 16, 24), Stage(2, 5, 2, 6, 24, 40),
    Stage(3, 3, 2, 6, 40, 80), Stage(3, 5, 1, 6, 80, 112), Stage(4, 5, 2, 6, 112, 192),
    Stage(1, 3, 1, 6, 192, 320),
)
B0_TAPS = (2, 4, 6)  # stages ending at strides 8, 16, 32: C3, C4, C5
EFFICIENTNET_EDGETPU = (
    Stage(1, 3, 1, 4, 24, 24, fused=True, skip=False), Stage(2, 3, 2, 8, 24, 32, fused=True),
    Stage(4, 3, 2, 8, 32, 48, fused=True), Stage(5, 5, 2, 8, 48, 96), Stage(4, 5, 1, 8, 96, 144),
    Stage(2, 5, 2, 8, 144, 192),
)


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """EfficientNet ``round_filters``: scale by ``width``, round to ``divisor``, never below 90 %."""
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def efficientnet_stages(spec: tuple[Stage, ...], c_stem: int, width: float, depth: float,
                        act: type[nn.Module], fix_first_last: bool = False) -> list[nn.Sequential]:
    """The scaled stages of ``spec``; the expansion widens the block's declared (rounded) input."""
    stages, c_in = [], c_stem
    for index, stage in enumerate(spec):
        fixed = fix_first_last and index in (0, len(spec) - 1)
        repeats = stage.repeats if fixed else math.ceil(stage.repeats * depth)
        c_out, declared_in = round_filters(stage.c_out, width), round_filters(stage.c_in, width)
        block = FusedConv if stage.fused else InvertedResidual
        blocks = []
        for unit in range(repeats):
            stride = stage.stride if unit == 0 else 1
            hidden = c_in if stage.expansion == 1 else (declared_in if unit == 0 else c_out) * stage.expansion
            blocks.append(block(c_in, hidden, c_out, stage.kernel, stride, act, stage.skip))
            c_in = c_out
        stages.append(nn.Sequential(*blocks))
    return stages


def separable_conv(c_in: int, c_out: int) -> nn.Sequential:
    """Separable 3x3 conv: depthwise 3x3 (groups == channels), then a 1x1 conv with bias."""
    return nn.Sequential(nn.Conv2d(c_in, c_in, 3, 1, 1, groups=c_in, bias=False), nn.Conv2d(c_in, c_out, 1))


# BiFPN cell over P3-P7 (automl fpn_configs.bifpn_config): (level, input offsets); offsets 0-4 are
# P3-P7, offset 5 + i is node i. The last node of each level is the cell's output there.
BIFPN_NODES = ((6, (3, 4)), (5, (2, 5)), (4, (1, 6)), (3, (0, 7)), (4, (1, 7, 8)), (5, (2, 6, 9)),
               (6, (3, 5, 10)), (7, (4, 11)))
LEVELS = (3, 4, 5, 6, 7)
NODE_LEVELS = (*LEVELS, *(level for level, _ in BIFPN_NODES))
ANCHORS = 9  # 3 scales x 3 aspect ratios
CLASSES = 90
BOX_CODE = 4


def level_sides(size: int) -> dict[int, int]:
    """Feature map side at each level P0-P7 of an input ``size`` (each level halves, rounding up)."""
    sides = {0: size}
    for level in range(1, LEVELS[-1] + 1):
        sides[level] = -(-sides[level - 1] // 2)
    return sides


def resample(x: Tensor, source: int, target: int, sides: dict[int, int]) -> Tensor:
    """Level ``source`` map at level ``target``: nearest upsampling, or 3x3 stride-2 max pools.

    Upsampling doubles and crops (e.g. 3 -> 6 -> 5), the same pixels as TF's nearest resize to
    the target side; a fixed scale keeps the graph's shapes static.
    """
    if source > target:
        side = sides[target]
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return x if 2 * sides[source] == side else x[..., :side, :side]
    for _ in range(target - source):
        x = F.max_pool2d(x, 3, 2, 1)
    return x


class BiFPNCell(nn.Module):
    """One BiFPN cell; 1x1 conv + BN adapts inputs whose channels differ from ``channels``."""

    def __init__(self, in_channels: tuple[int, ...], channels: int, sides: dict[int, int]):
        super().__init__()
        self.sides = sides
        widths = (*in_channels, *[channels] * len(BIFPN_NODES))
        self.adapt = nn.ModuleList(
            nn.ModuleList(nn.Identity() if widths[i] == channels else conv_bn(widths[i], channels, act=None)
                          for i in offsets) for _, offsets in BIFPN_NODES)
        self.convs = nn.ModuleList(nn.Sequential(separable_conv(channels, channels), nn.BatchNorm2d(channels))
                                   for _ in BIFPN_NODES)
        self.act = nn.ReLU6()

    def forward(self, features: list[Tensor]) -> list[Tensor]:
        nodes = list(features)
        for (level, offsets), adapt, conv in zip(BIFPN_NODES, self.adapt, self.convs, strict=True):
            total = sum(resample(a(nodes[i]), NODE_LEVELS[i], level, self.sides)
                        for a, i in zip(adapt, offsets, strict=True))
            nodes.append(conv(self.act(total)))
        return [nodes[len(NODE_LEVELS) - 1 - NODE_LEVELS[::-1].index(level)] for level in LEVELS]


class LevelHead(nn.Module):
    """Class or box net: separable convs shared over the levels (BN per level), then a predictor."""

    def __init__(self, channels: int, repeats: int, per_anchor: int):
        super().__init__()
        self.per_anchor = per_anchor
        self.convs = nn.ModuleList(separable_conv(channels, channels) for _ in range(repeats))
        self.norms = nn.ModuleList(nn.ModuleList(nn.BatchNorm2d(channels) for _ in LEVELS)
                                   for _ in range(repeats))
        self.predict = separable_conv(channels, ANCHORS * per_anchor)
        self.act = nn.ReLU6()

    def forward(self, features: list[Tensor]) -> Tensor:
        out = []
        for level, x in enumerate(features):
            for conv, norms in zip(self.convs, self.norms, strict=True):
                x = self.act(norms[level](conv(x)))
            y = self.predict(x)
            out.append(y.permute(0, 2, 3, 1).reshape(y.shape[0], -1, self.per_anchor))
        return torch.cat(out, 1)


class EfficientDetLite(nn.Module):
    """EfficientNet-Lite C3-C5, P6/P7 by pooling, BiFPN, class and box nets."""

    def __init__(self, size: int, width: float, depth: float, fpn_channels: int, fpn_cells: int,
                 head_repeats: int):
        super().__init__()
        self.stem = conv_bn(3, 32, 3, 2)
        self.stages = nn.ModuleList(efficientnet_stages(EFFICIENTNET_B0, 32, width, depth, nn.ReLU6,
                                                        fix_first_last=True))
        c3, c4, c5 = (round_filters(EFFICIENTNET_B0[i].c_out, width) for i in B0_TAPS)
        self.p6 = conv_bn(c5, fpn_channels, act=None)
        first = (c3, c4, c5, fpn_channels, fpn_channels)
        self.cells = nn.Sequential(*(BiFPNCell(first if i == 0 else (fpn_channels,) * 5, fpn_channels,
                                               level_sides(size)) for i in range(fpn_cells)))
        self.classes = LevelHead(fpn_channels, head_repeats, CLASSES)
        self.boxes = LevelHead(fpn_channels, head_repeats, BOX_CODE)

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor]:
        x, taps = self.stem(image), []
        for index, stage in enumerate(self.stages):
            x = stage(x)
            if index in B0_TAPS:
                taps.append(x)
        p6 = F.max_pool2d(self.p6(x), 3, 2, 1)
        features = self.cells([*taps, p6, F.max_pool2d(p6, 3, 2, 1)])
        return self.boxes(features), self.classes(features)


def efficientdet_lite(size: int, width: float, depth: float, fpn_channels: int, fpn_cells: int,
                      head_repeats: int) -> nn.Module:
    """EfficientDet-Lite in eval mode."""
    return EfficientDetLite(size, width, depth, fpn_channels, fpn_cells, head_repeats).eval()


def efficientdet_anchors(size: int) -> int:
    """Anchors over P3-P7 of an input ``size``."""
    sides = level_sides(size)
    return ANCHORS * sum(sides[level] ** 2 for level in LEVELS)


def efficientnet_edgetpu(width: float, depth: float) -> nn.Module:
    """EfficientNet-EdgeTPU classifier (1001 classes) in eval mode."""
    c_stem, c_head = round_filters(32, width), round_filters(1280, width)
    stages = efficientnet_stages(EFFICIENTNET_EDGETPU, c_stem, width, depth, nn.ReLU)
    c_last = round_filters(EFFICIENTNET_EDGETPU[-1].c_out, width)
    return nn.Sequential(conv_bn(3, c_stem, 3, 2, act=nn.ReLU), *stages, conv_bn(c_last, c_head, act=nn.ReLU),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_head, SLIM_CLASSES)).eval()


# Lite variant: input size, backbone width and depth, BiFPN channels and cells, class/box net repeats
LITE = ((320, 1.0, 1.0, 64, 3, 3), (384, 1.0, 1.1, 88, 4, 3), (448, 1.1, 1.2, 112, 5, 3),
        (512, 1.2, 1.4, 160, 6, 4))
# EdgeTPU variant: name, width, depth, input size
EDGETPU = (("s", 1.0, 1.0, 224), ("m", 1.0, 1.1, 240), ("l", 1.2, 1.4, 300))

for _variant, (_size, *_config) in enumerate(LITE):
    register(Architecture(
        id=f"efficientdet_lite{_variant}_{_size}", build=partial(efficientdet_lite, _size, *_config),
        input_size=_size, detections=efficientdet_anchors(_size),
        reference=f"Tan et al., arXiv:1911.09070 (EfficientDet); {AUTOML}/hparams_config.py "
                  f"(efficientdet-lite{_variant}), keras/efficientdet_keras.py and "
                  "backbone/efficientnet_lite_builder.py"))
for _name, _width, _depth, _size in EDGETPU:
    register(Architecture(
        id=f"efficientnet_edgetpu_{_name}_{_size}", build=partial(efficientnet_edgetpu, _width, _depth),
        input_size=_size,
        reference=f"Google AI blog 'EfficientNet-EdgeTPU' (2019), Tan & Le arXiv:1905.11946; {TPU_EDGETPU} "
                  f"(efficientnet-edgetpu-{_name.upper()}: width {_width}, depth {_depth})"))
