"""YOLO detectors (COCO, 80 classes), up to the raw head outputs: no box decoding, no NMS.

Darknet models (``tiny_yolov3_416``, ``yolov3_416``, ``yolov4_416``) use Conv-BN-LeakyReLU(0.1) and
end each scale in a linear 1x1 conv to 3 anchors x 85; their ``detections`` are 3 boxes per cell.
``yolov4_416`` is the leaky-ReLU build that the workload file counts (AlexeyAB ``yolov4-leaky``, as
in the Hailo and Vitis AI zoos): the original CSPDarknet53 backbone uses Mish, here LeakyReLU(0.1),
which changes no MAC or weight count.

Ultralytics models (``yolov5s_640``, ``yolov8*``, ``yolo11*``) are transcriptions of the model YAML
files, built by a small version of ultralytics' ``parse_model`` (same channel and depth scaling);
their Conv is Conv-BN-SiLU. The anchor-free Detect head (v8, 11) runs its DFL and class sigmoid and
returns (box distances, class scores) for the 8400 anchor points at 640; anchor decoding is left out.

``yolox_s_640`` is YOLOX-S with LeakyReLU(0.1) in place of SiLU: the ``yolox_s_leaky`` build that
the workload file counts (Hailo model zoo). Its head returns (1, 8400, 85) before grid decoding.

Attention products (MatMul of two activations, yolo11 C2PSA) export without stored weights; the graph
profile counts their MACs from the shapes (output elements x inner dimension): about 31 M (n) and 62 M
(s), 1 % and 0.6 % of the total.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial

import torch
from torch import Tensor, nn

from fleetsim.tools.architectures import Architecture, register
from fleetsim.tools.architectures.mobilenet import conv_bn

CLASSES = 80
ANCHORS = 3  # anchor boxes per cell of the anchor-based heads
OUTPUTS = ANCHORS * (CLASSES + 5)  # box, objectness and class scores per anchor

Activation = Callable[[], nn.Module]
LEAKY: Activation = partial(nn.LeakyReLU, 0.1)


def conv(c_in: int, c_out: int, k: int = 1, s: int = 1, p: int | None = None, g: int = 1,
         act: Activation | None = nn.SiLU) -> nn.Sequential:
    """Conv (no bias, 'same' padding unless ``p``) + batch norm + activation (none if ``act`` is None)."""
    return conv_bn(c_in, c_out, k, s, groups=g, act=act, padding=p)


class Residual(nn.Module):
    """``x + body(x)``."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class Concat(nn.Module):
    """Concatenate a list of feature maps along channels."""

    def forward(self, xs: list[Tensor]) -> Tensor:
        return torch.cat(xs, 1)


def cells(x: Tensor) -> Tensor:
    """(b, c, h, w) to (b, c, h * w); written as a view so the exported graph keeps static shapes."""
    b, c, h, w = x.shape
    return x.view(b, c, h * w)


def upsample() -> nn.Upsample:
    return nn.Upsample(scale_factor=2, mode="nearest")


class PyramidPool(nn.Module):
    """SPP (YOLOv4, YOLOX): the input concatenated with its parallel stride-1 max pools."""

    def __init__(self, kernels: Sequence[int] = (5, 9, 13)):
        super().__init__()
        self.pools = nn.ModuleList(nn.MaxPool2d(k, 1, k // 2) for k in kernels)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([x, *(pool(x) for pool in self.pools)], 1)


# -- Darknet (YOLOv3, YOLOv3-tiny, YOLOv4) -----------------------------------------------------

def dark(c_in: int, c_out: int, k: int = 1, s: int = 1) -> nn.Sequential:
    """Darknet convolutional layer: Conv-BN-LeakyReLU(0.1)."""
    return conv(c_in, c_out, k, s, act=LEAKY)


def dark_residual(c: int, hidden: int) -> Residual:
    """Darknet residual unit: 1x1 to ``hidden``, 3x3 back to ``c``, plus the input."""
    return Residual(nn.Sequential(dark(c, hidden), dark(hidden, c, 3)))


def dark_stack(c_in: int, c: int, depth: int) -> nn.Sequential:
    """Alternating 1x1 (``c``) and 3x3 (2 ``c``) convs, starting and ending with a 1x1."""
    layers = []
    for i in range(depth):
        layers.append(dark(c_in, c) if i % 2 == 0 else dark(c_in, 2 * c, 3))
        c_in = c if i % 2 == 0 else 2 * c
    return nn.Sequential(*layers)


def yolo_output(c_in: int, c: int) -> nn.Sequential:
    """Head of one scale: 3x3 conv then the linear 1x1 conv to 3 x 85 outputs."""
    return nn.Sequential(dark(c_in, c, 3), nn.Conv2d(c, OUTPUTS, 1))


class Darknet53(nn.Module):
    """Darknet-53 backbone; returns the stride 8, 16 and 32 feature maps (256, 512, 1024 channels)."""

    def __init__(self):
        super().__init__()
        stages, c_in = [dark(3, 32, 3)], 32
        for c, units in ((64, 1), (128, 2), (256, 8), (512, 8), (1024, 4)):
            residuals = [dark_residual(c, c // 2) for _ in range(units)]
            stages.append(nn.Sequential(dark(c_in, c, 3, 2), *residuals))
            c_in = c
        self.stem = nn.Sequential(*stages[:3])
        self.c3, self.c4, self.c5 = stages[3:]

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        p3 = self.c3(self.stem(x))
        p4 = self.c4(p3)
        return p3, p4, self.c5(p4)


class YoloV3(nn.Module):
    """Darknet-53 with the three-scale FPN head of yolov3.cfg."""

    def __init__(self):
        super().__init__()
        self.backbone = Darknet53()
        self.block5, self.out5 = dark_stack(1024, 512, 5), yolo_output(512, 1024)
        self.lateral4, self.block4, self.out4 = dark(512, 256), dark_stack(768, 256, 5), yolo_output(256, 512)
        self.lateral3, self.block3, self.out3 = dark(256, 128), dark_stack(384, 128, 5), yolo_output(128, 256)
        self.up = upsample()

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        p3, p4, p5 = self.backbone(x)
        n5 = self.block5(p5)
        n4 = self.block4(torch.cat([self.up(self.lateral4(n5)), p4], 1))
        n3 = self.block3(torch.cat([self.up(self.lateral3(n4)), p3], 1))
        return self.out5(n5), self.out4(n4), self.out3(n3)


class EdgePad(nn.Module):
    """Repeat the last row and column, so a 2x2 stride-1 max pool keeps the size as in darknet."""

    def forward(self, x: Tensor) -> Tensor:
        x = torch.cat([x, x[:, :, -1:]], 2)
        return torch.cat([x, x[:, :, :, -1:]], 3)


class TinyYoloV3(nn.Module):
    """yolov3-tiny.cfg: seven 3x3 convs between six max pools, then two output scales."""

    def __init__(self):
        super().__init__()
        layers, c_in = [], 3
        for c in (16, 32, 64, 128):
            layers += [dark(c_in, c, 3), nn.MaxPool2d(2, 2)]
            c_in = c
        self.p4 = nn.Sequential(*layers, dark(128, 256, 3))
        self.p5 = nn.Sequential(nn.MaxPool2d(2, 2), dark(256, 512, 3), EdgePad(), nn.MaxPool2d(2, 1),
                                dark(512, 1024, 3), dark(1024, 256))
        self.out5 = yolo_output(256, 512)
        self.lateral4, self.up, self.out4 = dark(256, 128), upsample(), yolo_output(384, 256)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        p4 = self.p4(x)
        p5 = self.p5(p4)
        return self.out5(p5), self.out4(torch.cat([self.up(self.lateral4(p5)), p4], 1))


class CSPStage(nn.Module):
    """CSPDarknet53 stage: strided 3x3, then a residual part and a bypass part joined by a 1x1."""

    def __init__(self, c_in: int, c: int, units: int, first: bool):
        super().__init__()
        part = c if first else c // 2  # the first stage keeps full width in both parts
        self.down = dark(c_in, c, 3, 2)
        self.bypass = dark(c, part)
        self.residual = nn.Sequential(dark(c, part), *(dark_residual(part, c // 2) for _ in range(units)),
                                      dark(part, part))
        self.join = dark(2 * part, c)

    def forward(self, x: Tensor) -> Tensor:
        x = self.down(x)
        return self.join(torch.cat([self.residual(x), self.bypass(x)], 1))


class YoloV4(nn.Module):
    """yolov4.cfg: CSPDarknet53, SPP and a PANet neck with three output scales."""

    def __init__(self):
        super().__init__()
        stages, c_in = [], 32
        for i, (c, units) in enumerate(((64, 1), (128, 2), (256, 8), (512, 8), (1024, 4))):
            stages.append(CSPStage(c_in, c, units, first=i == 0))
            c_in = c
        self.stem = nn.Sequential(dark(3, 32, 3), *stages[:2])
        self.c3, self.c4, self.c5 = stages[2:]
        self.spp = nn.Sequential(dark_stack(1024, 512, 3), PyramidPool(), dark_stack(2048, 512, 3))
        self.up = upsample()
        self.top_down5, self.lateral4, self.block4 = dark(512, 256), dark(512, 256), dark_stack(512, 256, 5)
        self.top_down4, self.lateral3, self.block3 = dark(256, 128), dark(256, 128), dark_stack(256, 128, 5)
        self.out3 = yolo_output(128, 256)
        self.down3, self.bottom_up4 = dark(128, 256, 3, 2), dark_stack(512, 256, 5)
        self.out4 = yolo_output(256, 512)
        self.down4, self.bottom_up5 = dark(256, 512, 3, 2), dark_stack(1024, 512, 5)
        self.out5 = yolo_output(512, 1024)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        p3 = self.c3(self.stem(x))
        p4 = self.c4(p3)
        n5 = self.spp(self.c5(p4))
        n4 = self.block4(torch.cat([self.lateral4(p4), self.up(self.top_down5(n5))], 1))
        n3 = self.block3(torch.cat([self.lateral3(p3), self.up(self.top_down4(n4))], 1))
        m4 = self.bottom_up4(torch.cat([self.down3(n3), n4], 1))
        m5 = self.bottom_up5(torch.cat([self.down4(m4), n5], 1))
        return self.out3(n3), self.out4(m4), self.out5(m5)


# -- Ultralytics blocks (YOLOv5 v6+, YOLOv8, YOLO11) -------------------------------------------

def bottleneck(c_in: int, c_out: int, shortcut: bool = True, kernels: tuple[int, int] = (3, 3),
               e: float = 0.5, act: Activation = nn.SiLU) -> nn.Module:
    """Two convs (hidden width ``e`` x ``c_out``), with a residual add when shapes allow."""
    hidden = int(c_out * e)
    body = nn.Sequential(conv(c_in, hidden, kernels[0], act=act), conv(hidden, c_out, kernels[1], act=act))
    return Residual(body) if shortcut and c_in == c_out else body


class C3(nn.Module):
    """CSP bottleneck with 3 convs (YOLOv5 C3, YOLOX CSPLayer; 3x3 kernels make YOLO11's C3k)."""

    def __init__(self, c_in: int, c_out: int, n: int = 1, shortcut: bool = True, e: float = 0.5,
                 kernels: tuple[int, int] = (1, 3), act: Activation = nn.SiLU):
        super().__init__()
        hidden = int(c_out * e)
        self.cv1, self.cv2 = conv(c_in, hidden, act=act), conv(c_in, hidden, act=act)
        self.cv3 = conv(2 * hidden, c_out, act=act)
        self.m = nn.Sequential(*(bottleneck(hidden, hidden, shortcut, kernels, 1.0, act) for _ in range(n)))

    def forward(self, x: Tensor) -> Tensor:
        return self.cv3(torch.cat([self.m(self.cv1(x)), self.cv2(x)], 1))


class C2f(nn.Module):
    """CSP bottleneck with 2 convs whose every inner block output joins the final concat (YOLOv8)."""

    def __init__(self, c_in: int, c_out: int, n: int = 1, shortcut: bool = False, e: float = 0.5,
                 inner: Callable[[int], nn.Module] | None = None):
        super().__init__()
        self.c = int(c_out * e)
        self.cv1, self.cv2 = conv(c_in, 2 * self.c), conv((2 + n) * self.c, c_out)
        inner = inner or (lambda c: bottleneck(c, c, shortcut, e=1.0))
        self.m = nn.ModuleList(inner(self.c) for _ in range(n))

    def forward(self, x: Tensor) -> Tensor:
        y = list(self.cv1(x).split((self.c, self.c), 1))
        for block in self.m:
            y.append(block(y[-1]))
        return self.cv2(torch.cat(y, 1))


class C3k2(C2f):
    """YOLO11 C2f whose inner blocks are bottlenecks (hidden width c/2) or C3k blocks."""

    def __init__(self, c_in: int, c_out: int, n: int = 1, c3k: bool = False, e: float = 0.5,
                 shortcut: bool = True):
        def inner(c: int) -> nn.Module:
            return C3(c, c, 2, shortcut, kernels=(3, 3)) if c3k else bottleneck(c, c, shortcut)

        super().__init__(c_in, c_out, n, shortcut, e, inner)


class SPPF(nn.Module):
    """Fast spatial pyramid pooling: three chained 5x5 max pools, all four maps concatenated."""

    def __init__(self, c_in: int, c_out: int, k: int = 5):
        super().__init__()
        hidden = c_in // 2
        self.cv1, self.cv2 = conv(c_in, hidden), conv(4 * hidden, c_out)
        self.pool = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x: Tensor) -> Tensor:
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.pool(y[-1]))
        return self.cv2(torch.cat(y, 1))


class Attention(nn.Module):
    """Multi-head self-attention over pixels, with a depthwise 3x3 positional term (YOLO11)."""

    def __init__(self, dim: int, heads: int, attn_ratio: float = 0.5):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.key_dim = int(self.head_dim * attn_ratio)
        self.scale = self.key_dim**-0.5
        self.qkv = conv(dim, dim + 2 * self.key_dim * heads, act=None)
        self.proj = conv(dim, dim, act=None)
        self.pe = conv(dim, dim, 3, g=dim, act=None)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(x).view(b, self.heads, 2 * self.key_dim + self.head_dim, h * w).split(
            [self.key_dim, self.key_dim, self.head_dim], dim=2)
        attn = ((q.transpose(-2, -1) @ k) * self.scale).softmax(dim=-1)
        x = (v @ attn.transpose(-2, -1)).view(b, c, h, w) + self.pe(v.reshape(b, c, h, w))
        return self.proj(x)


class C2PSA(nn.Module):
    """CSP block whose second half runs position-sensitive attention blocks (attention + FFN)."""

    def __init__(self, c_in: int, c_out: int, n: int = 1, e: float = 0.5):
        super().__init__()
        self.c = int(c_in * e)
        self.cv1, self.cv2 = conv(c_in, 2 * self.c), conv(2 * self.c, c_out)
        self.m = nn.Sequential(*(nn.Sequential(
            Residual(Attention(self.c, heads=self.c // 64)),
            Residual(nn.Sequential(conv(self.c, 2 * self.c), conv(2 * self.c, self.c, act=None))))
            for _ in range(n)))

    def forward(self, x: Tensor) -> Tensor:
        a, b = self.cv1(x).split((self.c, self.c), dim=1)
        return self.cv2(torch.cat([a, self.m(b)], 1))


class AnchorDetect(nn.Module):
    """YOLOv5 Detect: a linear 1x1 conv per scale to 3 anchors x 85 outputs."""

    def __init__(self, channels: Sequence[int]):
        super().__init__()
        self.m = nn.ModuleList(nn.Conv2d(c, OUTPUTS, 1) for c in channels)

    def forward(self, xs: list[Tensor]) -> tuple[Tensor, ...]:
        return tuple(m(x) for m, x in zip(self.m, xs, strict=True))


class DFL(nn.Module):
    """Distribution focal loss integral: expected value of each side's ``reg_max``-bin distribution."""

    def __init__(self, reg_max: int = 16):
        super().__init__()
        self.reg_max = reg_max
        self.conv = nn.Conv2d(reg_max, 1, 1, bias=False).requires_grad_(False)
        self.conv.weight.data[:] = torch.arange(reg_max, dtype=torch.float).view(1, reg_max, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        b, _, a = x.shape
        return self.conv(x.view(b, 4, self.reg_max, a).transpose(2, 1).softmax(1)).view(b, 4, a)


class Detect(nn.Module):
    """Decoupled anchor-free head (YOLOv8, YOLO11): box branch with DFL, class branch with sigmoid.

    ``legacy`` is the YOLOv8 class branch (two 3x3 convs); YOLO11 uses depthwise-separable convs.
    """

    def __init__(self, channels: Sequence[int], legacy: bool, reg_max: int = 16):
        super().__init__()
        c_box, c_cls = max(16, channels[0] // 4, 4 * reg_max), max(channels[0], min(CLASSES, 100))
        self.box = nn.ModuleList(nn.Sequential(conv(c, c_box, 3), conv(c_box, c_box, 3),
                                               nn.Conv2d(c_box, 4 * reg_max, 1)) for c in channels)
        self.cls = nn.ModuleList(nn.Sequential(
            *((conv(c, c_cls, 3), conv(c_cls, c_cls, 3)) if legacy else
              (conv(c, c, 3, g=c), conv(c, c_cls), conv(c_cls, c_cls, 3, g=c_cls), conv(c_cls, c_cls))),
            nn.Conv2d(c_cls, CLASSES, 1)) for c in channels)
        self.dfl = DFL(reg_max)

    def forward(self, xs: list[Tensor]) -> tuple[Tensor, Tensor]:
        box = torch.cat([cells(m(x)) for m, x in zip(self.box, xs, strict=True)], 2)
        cls = torch.cat([cells(m(x)) for m, x in zip(self.cls, xs, strict=True)], 2)
        return self.dfl(box), cls.sigmoid()


class LayerGraph(nn.Module):
    """Layers run in order; each reads the previous output (-1) or earlier outputs by index."""

    def __init__(self, layers: list[nn.Module], sources: list[int | tuple[int, ...]]):
        super().__init__()
        self.layers, self.sources = nn.ModuleList(layers), sources

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, ...]:
        outputs = []
        for layer, source in zip(self.layers, self.sources, strict=True):
            if isinstance(source, int):
                x = x if source == -1 else outputs[source]
            else:
                x = [x if j == -1 else outputs[j] for j in source]
            x = layer(x)
            outputs.append(x)
        return x


Row = tuple[int | tuple[int, ...], int, str, tuple]  # (from, repeats, module, args) as in the YAML
BLOCKS = {"Conv": conv, "C3": C3, "C2f": C2f, "C3k2": C3k2, "SPPF": SPPF, "C2PSA": C2PSA}
REPEATED = {"C3", "C2f", "C3k2", "C2PSA"}  # blocks that take the repeat count as an argument


def parse_model(rows: Sequence[Row], depth: float, width: float, max_channels: int = 1024) -> nn.Module:
    """Build a model YAML's layer list at one scale, as ultralytics ``parse_model`` does."""
    legacy = not any(name == "C3k2" for _, _, name, _ in rows)
    layers, sources, channels = [], [], []
    for source, repeats, name, args in rows:
        c_ins = [channels[j] if channels else 3 for j in ((source,) if isinstance(source, int) else source)]
        if name == "Upsample":
            module, c_out = upsample(), c_ins[0]
        elif name == "Concat":
            module, c_out = Concat(), sum(c_ins)
        elif name == "Detect":
            module, c_out = Detect(c_ins, legacy), 0
        elif name == "AnchorDetect":
            module, c_out = AnchorDetect(c_ins), 0
        else:
            c_out = math.ceil(min(args[0], max_channels) * width / 8) * 8
            n = max(round(repeats * depth), 1) if repeats > 1 else repeats
            module = BLOCKS[name](c_ins[0], c_out, *((n, *args[1:]) if name in REPEATED else args[1:]))
        layers.append(module)
        sources.append(source)
        channels.append(c_out)
    return LayerGraph(layers, sources).eval()


# GitHub ultralytics/yolov5 models/yolov5s.yaml (v6.0+)
YOLOV5: tuple[Row, ...] = (
    (-1, 1, "Conv", (64, 6, 2, 2)), (-1, 1, "Conv", (128, 3, 2)), (-1, 3, "C3", (128,)),
    (-1, 1, "Conv", (256, 3, 2)), (-1, 6, "C3", (256,)), (-1, 1, "Conv", (512, 3, 2)), (-1, 9, "C3", (512,)),
    (-1, 1, "Conv", (1024, 3, 2)), (-1, 3, "C3", (1024,)), (-1, 1, "SPPF", (1024, 5)),
    (-1, 1, "Conv", (512, 1, 1)), (-1, 1, "Upsample", ()), ((-1, 6), 1, "Concat", ()),
    (-1, 3, "C3", (512, False)),
    (-1, 1, "Conv", (256, 1, 1)), (-1, 1, "Upsample", ()), ((-1, 4), 1, "Concat", ()),
    (-1, 3, "C3", (256, False)),
    (-1, 1, "Conv", (256, 3, 2)), ((-1, 14), 1, "Concat", ()), (-1, 3, "C3", (512, False)),
    (-1, 1, "Conv", (512, 3, 2)), ((-1, 10), 1, "Concat", ()), (-1, 3, "C3", (1024, False)),
    ((17, 20, 23), 1, "AnchorDetect", ()),  # "Detect" in the YAML
)

# GitHub ultralytics/ultralytics ultralytics/cfg/models/v8/yolov8.yaml
YOLOV8: tuple[Row, ...] = (
    (-1, 1, "Conv", (64, 3, 2)), (-1, 1, "Conv", (128, 3, 2)), (-1, 3, "C2f", (128, True)),
    (-1, 1, "Conv", (256, 3, 2)), (-1, 6, "C2f", (256, True)), (-1, 1, "Conv", (512, 3, 2)),
    (-1, 6, "C2f", (512, True)), (-1, 1, "Conv", (1024, 3, 2)), (-1, 3, "C2f", (1024, True)),
    (-1, 1, "SPPF", (1024, 5)),
    (-1, 1, "Upsample", ()), ((-1, 6), 1, "Concat", ()), (-1, 3, "C2f", (512,)),
    (-1, 1, "Upsample", ()), ((-1, 4), 1, "Concat", ()), (-1, 3, "C2f", (256,)),
    (-1, 1, "Conv", (256, 3, 2)), ((-1, 12), 1, "Concat", ()), (-1, 3, "C2f", (512,)),
    (-1, 1, "Conv", (512, 3, 2)), ((-1, 9), 1, "Concat", ()), (-1, 3, "C2f", (1024,)),
    ((15, 18, 21), 1, "Detect", ()),
)

# GitHub ultralytics/ultralytics ultralytics/cfg/models/11/yolo11.yaml
YOLO11: tuple[Row, ...] = (
    (-1, 1, "Conv", (64, 3, 2)), (-1, 1, "Conv", (128, 3, 2)), (-1, 2, "C3k2", (256, False, 0.25)),
    (-1, 1, "Conv", (256, 3, 2)), (-1, 2, "C3k2", (512, False, 0.25)), (-1, 1, "Conv", (512, 3, 2)),
    (-1, 2, "C3k2", (512, True)), (-1, 1, "Conv", (1024, 3, 2)), (-1, 2, "C3k2", (1024, True)),
    (-1, 1, "SPPF", (1024, 5)), (-1, 2, "C2PSA", (1024,)),
    (-1, 1, "Upsample", ()), ((-1, 6), 1, "Concat", ()), (-1, 2, "C3k2", (512, False)),
    (-1, 1, "Upsample", ()), ((-1, 4), 1, "Concat", ()), (-1, 2, "C3k2", (256, False)),
    (-1, 1, "Conv", (256, 3, 2)), ((-1, 13), 1, "Concat", ()), (-1, 2, "C3k2", (512, False)),
    (-1, 1, "Conv", (512, 3, 2)), ((-1, 10), 1, "Concat", ()), (-1, 2, "C3k2", (1024, True)),
    ((16, 19, 22), 1, "Detect", ()),
)


# -- YOLOX -------------------------------------------------------------------------------------

def yolox_conv(c_in: int, c_out: int, k: int = 1, s: int = 1) -> nn.Sequential:
    """YOLOX BaseConv with the leaky activation of yolox_s_leaky."""
    return conv(c_in, c_out, k, s, act=LEAKY)


def csp_layer(c_in: int, c_out: int, n: int, shortcut: bool = True) -> C3:
    return C3(c_in, c_out, n, shortcut, act=LEAKY)


class Focus(nn.Module):
    """Space-to-depth (2x2 pixel blocks to 4x channels) followed by a 3x3 conv."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = yolox_conv(4 * c_in, c_out, 3)

    def forward(self, x: Tensor) -> Tensor:
        blocks = [x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]]
        return self.conv(torch.cat(blocks, 1))


class YoloX(nn.Module):
    """YOLOX: CSPDarknet (Focus stem, SPP), PAFPN and a decoupled head with objectness."""

    def __init__(self, depth: float, width: float):
        super().__init__()
        c = [int(width * x) for x in (64, 128, 256, 512, 1024)]
        n = max(round(3 * depth), 1)

        def stage(i: int, units: int) -> list[nn.Module]:
            return [yolox_conv(c[i - 1], c[i], 3, 2), csp_layer(c[i], c[i], units)]

        self.stem = nn.Sequential(Focus(3, c[0]), *stage(1, n), *stage(2, 3 * n))
        self.dark4 = nn.Sequential(*stage(3, 3 * n))
        spp = nn.Sequential(yolox_conv(c[4], c[3]), PyramidPool(), yolox_conv(4 * c[3], c[4]))
        self.dark5 = nn.Sequential(yolox_conv(c[3], c[4], 3, 2), spp, csp_layer(c[4], c[4], n, False))
        self.up = upsample()
        self.lateral_conv0, self.c3_p4 = yolox_conv(c[4], c[3]), csp_layer(c[4], c[3], n, False)
        self.reduce_conv1, self.c3_p3 = yolox_conv(c[3], c[2]), csp_layer(c[3], c[2], n, False)
        self.bu_conv2, self.c3_n3 = yolox_conv(c[2], c[2], 3, 2), csp_layer(c[3], c[3], n, False)
        self.bu_conv1, self.c3_n4 = yolox_conv(c[3], c[3], 3, 2), csp_layer(c[4], c[4], n, False)
        self.head = nn.ModuleList(YoloXHeadLevel(channels, int(256 * width)) for channels in c[2:])

    def forward(self, x: Tensor) -> Tensor:
        x2 = self.stem(x)
        x1 = self.dark4(x2)
        x0 = self.dark5(x1)
        fpn_out0 = self.lateral_conv0(x0)
        f_out0 = self.c3_p4(torch.cat([self.up(fpn_out0), x1], 1))
        fpn_out1 = self.reduce_conv1(f_out0)
        pan_out2 = self.c3_p3(torch.cat([self.up(fpn_out1), x2], 1))
        pan_out1 = self.c3_n3(torch.cat([self.bu_conv2(pan_out2), fpn_out1], 1))
        pan_out0 = self.c3_n4(torch.cat([self.bu_conv1(pan_out1), fpn_out0], 1))
        levels = zip(self.head, (pan_out2, pan_out1, pan_out0), strict=True)
        return torch.cat([cells(level(feature)) for level, feature in levels], 2).permute(0, 2, 1)


class YoloXHeadLevel(nn.Module):
    """One scale of the decoupled head: 1x1 stem, then class and box/objectness branches."""

    def __init__(self, c_in: int, c: int):
        super().__init__()
        self.stem = yolox_conv(c_in, c)
        self.cls = nn.Sequential(yolox_conv(c, c, 3), yolox_conv(c, c, 3), nn.Conv2d(c, CLASSES, 1))
        self.reg = nn.Sequential(yolox_conv(c, c, 3), yolox_conv(c, c, 3))
        self.box, self.obj = nn.Conv2d(c, 4, 1), nn.Conv2d(c, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        reg = self.reg(x)
        return torch.cat([self.box(reg), self.obj(reg).sigmoid(), self.cls(x).sigmoid()], 1)


def anchor_points(size: int, strides: Sequence[int] = (8, 16, 32)) -> int:
    """Grid cells over the output scales (one box each for anchor-free heads)."""
    return sum((size // s) ** 2 for s in strides)


ULTRALYTICS = "GitHub ultralytics/ultralytics ultralytics/cfg/models"
register(Architecture("tiny_yolov3_416", lambda: TinyYoloV3().eval(), 416,
                      "GitHub pjreddie/darknet cfg/yolov3-tiny.cfg", ANCHORS * anchor_points(416, (16, 32))))
register(Architecture("yolov3_416", lambda: YoloV3().eval(), 416,
                      "Redmon & Farhadi, arXiv:1804.02767; GitHub pjreddie/darknet cfg/yolov3.cfg",
                      ANCHORS * anchor_points(416)))
register(Architecture("yolov4_416", lambda: YoloV4().eval(), 416,
                      "Bochkovskiy et al., arXiv:2004.10934; GitHub AlexeyAB/darknet cfg/yolov4.cfg "
                      "(leaky-ReLU build: cfg/yolov4-leaky.cfg)", ANCHORS * anchor_points(416)))
register(Architecture("yolov5s_640", lambda: parse_model(YOLOV5, 0.33, 0.50), 640,
                      "GitHub ultralytics/yolov5 models/yolov5s.yaml (v6.0+)", ANCHORS * anchor_points(640)))
register(Architecture("yolov8n_640", lambda: parse_model(YOLOV8, 0.33, 0.25), 640,
                      f"{ULTRALYTICS}/v8/yolov8.yaml (scale n)", anchor_points(640)))
register(Architecture("yolov8s_640", lambda: parse_model(YOLOV8, 0.33, 0.50), 640,
                      f"{ULTRALYTICS}/v8/yolov8.yaml (scale s)", anchor_points(640)))
register(Architecture("yolo11n_640", lambda: parse_model(YOLO11, 0.50, 0.25), 640,
                      f"{ULTRALYTICS}/11/yolo11.yaml (scale n)", anchor_points(640)))
register(Architecture("yolo11s_640", lambda: parse_model(YOLO11, 0.50, 0.50), 640,
                      f"{ULTRALYTICS}/11/yolo11.yaml (scale s)", anchor_points(640)))
register(Architecture("yolox_s_640", lambda: YoloX(0.33, 0.50).eval(), 640,
                      "Ge et al., arXiv:2107.08430; GitHub Megvii-BaseDetection/YOLOX "
                      "exps/default/yolox_s.py with act='lrelu' (hailo-ai/hailo_model_zoo yolox_s_leaky)",
                      anchor_points(640)))
