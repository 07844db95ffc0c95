"""SSD and SSDLite detectors of the TF1 object detection API (COCO, 90 classes plus background).

Every model predicts from six feature maps: two taken from the backbone and four extra layers
(a 1x1 conv to half the depth, then a stride-2 3x3 conv to 512, 256, 256, 128 channels;
``feature_map_generators.multi_resolution_feature_maps``). Each map has a box and a class
predictor for 3 anchors per location on the first map and 6 on the others (5 aspect ratios
plus one extra scale, ``reduce_boxes_in_lowest_layer``): 1917 anchors at 300 x 300. The
outputs are the concatenated box encodings (1, anchors, 4) and class logits (1, anchors, 91);
anchor decoding and NMS stay outside the graph (``detections`` = anchors).

- ``ssd_mobilenet_v1_300``: MobileNet v1 maps ``Conv2d_11_pointwise`` (19 x 19 x 512) and
  ``Conv2d_13_pointwise`` (10 x 10 x 1024), full 3x3 extra convs, 1x1 conv predictors
  (``ssd_mobilenet_v1_coco.config``).
- ``ssd_mobilenet_v1_075_300``: the same with depth multiplier 0.75 on the backbone and the
  extra layers (``ssd_mobilenet_v1_0.75_depth_300x300_coco14_sync.config``: 384 / 768-channel
  maps, extras 384 / 192 / 192 / 96).
- ``ssd_mobilenet_v2_300``: MobileNetV2 maps ``layer_15/expansion_output`` (19 x 19 x 576) and
  ``layer_19`` (10 x 10 x 1280), depthwise-separable extra convs, 1x1 conv predictors. The
  published figures (Hailo model zoo: 0.76 GMAC, 4.46 M parameters) fit this head. The TF1-zoo
  ``ssd_mobilenet_v2_coco.config`` has 3x3 full-conv predictors instead (1.9 GMAC, 16.8 M
  parameters per the OpenVINO model zoo) and the Coral quantized
  ``ssd_mobilenet_v2_quantized_300x300_coco.config`` full 3x3 extra convs (about 6.0 M).
- ``ssdlite_mobilenet_v2_300``: the same maps, depthwise-separable extra convs and predictors
  (3x3 depthwise + BN + ReLU6, then a 1x1 conv; ``ssdlite_mobilenet_v2_coco.config``).
- ``ssdlite_mobiledet_320``: MobileDet-EdgeTPU maps C4 (20 x 20 x 96) and C5 (10 x 10 x 384),
  SSDLite extra layers and predictors (``ssdlite_mobiledet_edgetpu_320x320_coco_sync_4x4.config``);
  2034 anchors.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from fleetsim.tools.architectures import Architecture, register
from fleetsim.tools.architectures.mobilenet import (
    FusedConv,
    InvertedResidual,
    conv_bn,
    depth,
    depthwise,
    mobilenet_v1_layers,
    mobilenet_v2_layers,
)

CLASSES = 91  # 90 COCO classes plus background
BOX_CODE = 4
EXTRA_DEPTHS = (512, 256, 256, 128)
ANCHORS = (3, 6, 6, 6, 6, 6)  # per location on each of the six feature maps
OD_API = "GitHub tensorflow/models research/object_detection"


def separable(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    """3x3 depthwise conv + BN + ReLU6, then a 1x1 conv + BN + ReLU6 (SSDLite)."""
    return nn.Sequential(depthwise(c_in, 3, stride), conv_bn(c_in, c_out))


def extra_layer(c_in: int, depth: int, lite: bool) -> nn.Sequential:
    """1x1 conv to depth / 2, then a stride-2 3x3 conv (separable when ``lite``) to ``depth``."""
    half = depth // 2
    down = separable(half, depth, 2) if lite else conv_bn(half, depth, 3, 2)
    return nn.Sequential(conv_bn(c_in, half), down)


def predictor(c_in: int, c_out: int, lite: bool) -> nn.Module:
    """Box or class predictor: a 1x1 conv, or (SSDLite) 3x3 depthwise + BN + ReLU6 then a 1x1 conv."""
    conv = nn.Conv2d(c_in, c_out, 1)
    return nn.Sequential(depthwise(c_in), conv) if lite else conv


class SSD(nn.Module):
    """Backbone giving two feature maps, four extra layers, box and class predictors on all six."""

    def __init__(self, backbone: nn.Module, backbone_depths: tuple[int, int], lite_extras: bool,
                 lite_predictors: bool, multiplier: float = 1.0):
        super().__init__()
        self.backbone = backbone
        extra_depths = tuple(depth(d, multiplier) for d in EXTRA_DEPTHS)
        depths = (*backbone_depths, *extra_depths)
        self.extras = nn.ModuleList(extra_layer(c_in, d, lite_extras)
                                    for c_in, d in zip(depths[1:-1], extra_depths, strict=True))
        self.boxes = nn.ModuleList(predictor(c, a * BOX_CODE, lite_predictors)
                                   for c, a in zip(depths, ANCHORS, strict=True))
        self.classes = nn.ModuleList(predictor(c, a * CLASSES, lite_predictors)
                                     for c, a in zip(depths, ANCHORS, strict=True))

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor]:
        maps = list(self.backbone(image))
        for extra in self.extras:
            maps.append(extra(maps[-1]))
        boxes = [flatten_anchors(head(x), BOX_CODE) for head, x in zip(self.boxes, maps, strict=True)]
        scores = [flatten_anchors(head(x), CLASSES) for head, x in zip(self.classes, maps, strict=True)]
        return torch.cat(boxes, 1), torch.cat(scores, 1)


def flatten_anchors(x: Tensor, per_anchor: int) -> Tensor:
    """(1, A * n, H, W) predictions as (1, H * W * A, n), anchor-major like the TF reshape."""
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, per_anchor)


class Taps(nn.Module):
    """Runs ``first`` then ``second`` and returns both outputs (the two backbone feature maps)."""

    def __init__(self, first: nn.Module, second: nn.Module):
        super().__init__()
        self.first, self.second = first, second

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor]:
        a = self.first(image)
        return a, self.second(a)


def mobilenet_v1_taps(multiplier: float = 1.0) -> Taps:
    """MobileNet v1 up to Conv2d_11_pointwise, then on to Conv2d_13_pointwise."""
    layers = mobilenet_v1_layers(multiplier)
    return Taps(nn.Sequential(*layers[:12]), nn.Sequential(*layers[12:]))


def mobilenet_v2_taps() -> Taps:
    """MobileNetV2 up to ``layer_15/expansion_output``, then on to ``layer_19``."""
    layers = mobilenet_v2_layers()
    layer_15 = layers[14]
    return Taps(nn.Sequential(*layers[:14], layer_15.expand), nn.Sequential(layer_15.reduce, *layers[15:]))


def scale_filters(filters: int, ratio: float) -> int:
    """MobileDet ``_scale_filters``: round ``filters * ratio`` half up to a multiple of 8."""
    return max(8, int(filters * ratio / 8 + 0.5) * 8)


class TuckerConv(nn.Module):
    """MobileDet Tucker block: 1x1 to an input rank, k x k to an output rank, linear 1x1."""

    def __init__(self, c_in: int, c_out: int, in_ratio: float, out_ratio: float, k: int = 3):
        super().__init__()
        in_rank, out_rank = scale_filters(c_in, in_ratio), scale_filters(c_out, out_ratio)
        self.body = nn.Sequential(conv_bn(c_in, in_rank), conv_bn(in_rank, out_rank, k),
                                  conv_bn(out_rank, c_out, act=None))
        self.residual = c_in == c_out

    def forward(self, x: Tensor) -> Tensor:
        y = self.body(x)
        return x + y if self.residual else y


# MobileDet-EdgeTPU after the stem and Tucker block: (block, output channels, expansion, kernel, stride)
MOBILEDET_EDGETPU_C4 = (
    ("fused", 16, 8, 3, 2), ("fused", 16, 4, 3, 1), ("fused", 16, 8, 3, 1), ("fused", 16, 4, 3, 1),
    ("fused", 40, 8, 5, 2), ("fused", 40, 4, 3, 1), ("fused", 40, 4, 3, 1), ("fused", 40, 4, 3, 1),
    ("ibn", 72, 8, 3, 2), ("ibn", 72, 8, 3, 1), ("fused", 72, 4, 3, 1), ("fused", 72, 4, 3, 1),
    ("ibn", 96, 8, 5, 1), ("ibn", 96, 8, 5, 1), ("ibn", 96, 8, 3, 1), ("ibn", 96, 8, 3, 1),
)
MOBILEDET_EDGETPU_C5 = (
    ("ibn", 120, 8, 5, 2), ("ibn", 120, 8, 3, 1), ("ibn", 120, 4, 5, 1), ("ibn", 120, 8, 3, 1),
    ("ibn", 384, 8, 5, 1),
)


def mobiledet_blocks(spec: tuple[tuple[str, int, int, int, int], ...], c_in: int) -> list[nn.Module]:
    """IBN / fused blocks of ``spec``; hidden width is the input width times the expansion."""
    blocks = []
    for kind, c_out, expansion, k, stride in spec:
        block = InvertedResidual if kind == "ibn" else FusedConv
        blocks.append(block(c_in, c_in * expansion, c_out, k, stride))
        c_in = c_out
    return blocks


def mobiledet_edgetpu_taps() -> Taps:
    """MobileDet-EdgeTPU backbone (``mobiledet_edgetpu_backbone``) returning C4 and C5."""
    stem = [conv_bn(3, 32, 3, 2), TuckerConv(32, 16, in_ratio=0.25, out_ratio=0.75)]
    c4 = nn.Sequential(*stem, *mobiledet_blocks(MOBILEDET_EDGETPU_C4, 16))
    return Taps(c4, nn.Sequential(*mobiledet_blocks(MOBILEDET_EDGETPU_C5, 96)))


def anchor_count(size: int) -> int:
    """Anchors over the six maps of an input ``size``: the first at stride 16, then halving."""
    side = -(-size // 16)
    total = 0
    for anchors in ANCHORS:
        total += side * side * anchors
        side = -(-side // 2)
    return total


def ssd_mobilenet_v1() -> nn.Module:
    """SSD MobileNet v1: full 3x3 extra convs, 1x1 predictors."""
    return SSD(mobilenet_v1_taps(), (512, 1024), lite_extras=False, lite_predictors=False).eval()


def ssd_mobilenet_v1_075() -> nn.Module:
    """SSD MobileNet v1 at depth multiplier 0.75 (backbone and extra layers)."""
    return SSD(mobilenet_v1_taps(0.75), (384, 768), lite_extras=False, lite_predictors=False,
               multiplier=0.75).eval()


def ssd_mobilenet_v2() -> nn.Module:
    """SSD MobileNetV2: separable extra convs, 1x1 predictors (see the module docstring)."""
    return SSD(mobilenet_v2_taps(), (576, 1280), lite_extras=True, lite_predictors=False).eval()


def ssdlite_mobilenet_v2() -> nn.Module:
    """SSDLite MobileNetV2: separable extra convs and predictors."""
    return SSD(mobilenet_v2_taps(), (576, 1280), lite_extras=True, lite_predictors=True).eval()


def ssdlite_mobiledet() -> nn.Module:
    """SSDLite MobileDet-EdgeTPU: separable extra convs and predictors."""
    return SSD(mobiledet_edgetpu_taps(), (96, 384), lite_extras=True, lite_predictors=True).eval()


register(Architecture(
    id="ssd_mobilenet_v1_300", build=ssd_mobilenet_v1, input_size=300, detections=anchor_count(300),
    reference=f"Liu et al., arXiv:1512.02325 (SSD); {OD_API}/samples/configs/ssd_mobilenet_v1_coco.config "
              "and models/ssd_mobilenet_v1_feature_extractor.py"))
register(Architecture(
    id="ssd_mobilenet_v1_075_300", build=ssd_mobilenet_v1_075, input_size=300, detections=anchor_count(300),
    reference=f"Howard et al., arXiv:1704.04861 (width multiplier); {OD_API}/models/"
              "ssd_mobilenet_v1_feature_extractor.py (depth_multiplier on backbone and extra layers)"))
register(Architecture(
    id="ssd_mobilenet_v2_300", build=ssd_mobilenet_v2, input_size=300, detections=anchor_count(300),
    reference=f"Sandler et al., arXiv:1801.04381; {OD_API}/models/ssd_mobilenet_v2_feature_extractor.py "
              "with samples/configs/ssd_mobilenet_v2_coco.config, 1x1 box predictor"))
register(Architecture(
    id="ssdlite_mobilenet_v2_300", build=ssdlite_mobilenet_v2, input_size=300, detections=anchor_count(300),
    reference=f"Sandler et al., arXiv:1801.04381 (SSDLite); {OD_API}/samples/configs/"
              "ssdlite_mobilenet_v2_coco.config"))
register(Architecture(
    id="ssdlite_mobiledet_320", build=ssdlite_mobiledet, input_size=320, detections=anchor_count(320),
    reference=f"Xiong et al., arXiv:2004.14525 (MobileDets); {OD_API}/models/"
              "ssd_mobiledet_feature_extractor.py (mobiledet_edgetpu_backbone) with samples/configs/"
              "ssdlite_mobiledet_edgetpu_320x320_coco_sync_4x4.config"))
