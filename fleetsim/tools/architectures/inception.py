"""Inception classifiers (1000 classes, batch-normalised convs with ReLU).

- ``inception_v1_224``: GoogLeNet (arXiv:1409.4842, Table 1) without the auxiliary heads, as
  built by TF-slim ``inception_v1`` (the model the workload file counts): batch norm in place of
  local response normalisation, and a 3x3 conv where the paper's "5x5" branch has a 5x5 conv.
- ``inception_v4_299``: Inception-v4 (arXiv:1602.07261, Figs. 3-9): stem, 4 x Inception-A,
  Reduction-A, 7 x Inception-B, Reduction-B, 3 x Inception-C, average pool, fully connected.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from fleetsim.tools.architectures import Architecture, register
from fleetsim.tools.architectures.mobilenet import Kernel, conv_bn


def conv(c_in: int, c_out: int, k: Kernel, stride: int = 1, same: bool = True) -> nn.Sequential:
    """Conv (no bias) + batch norm + ReLU; ``same`` pads to keep the size, else 'valid'."""
    return conv_bn(c_in, c_out, k, stride, act=nn.ReLU, padding=None if same else 0)


def chain(c_in: int, *convs: tuple[int, Kernel]) -> nn.Sequential:
    """Stride-1 'same' convs in sequence, each given as (output channels, kernel)."""
    layers = []
    for c_out, k in convs:
        layers.append(conv(c_in, c_out, k))
        c_in = c_out
    return nn.Sequential(*layers)


class Branches(nn.Module):
    """Parallel branches concatenated along channels."""

    def __init__(self, *branches: nn.Module):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([branch(x) for branch in self.branches], 1)


def classifier(channels: int, classes: int) -> list[nn.Module]:
    return [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, classes)]


# -- Inception v1 (GoogLeNet) ------------------------------------------------------------------

# (1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5", pool proj) per module, paper Table 1
V1_MODULES = {
    "3b": (64, 96, 128, 16, 32, 32), "3c": (128, 128, 192, 32, 96, 64),
    "4b": (192, 96, 208, 16, 48, 64), "4c": (160, 112, 224, 24, 64, 64),
    "4d": (128, 128, 256, 24, 64, 64), "4e": (112, 144, 288, 32, 64, 64),
    "4f": (256, 160, 320, 32, 128, 128),
    "5b": (256, 160, 320, 32, 128, 128), "5c": (384, 192, 384, 48, 128, 128),
}


def inception_v1_module(c_in: int, widths: tuple[int, ...]) -> tuple[nn.Module, int]:
    """One GoogLeNet inception module and its output channels."""
    c1, r3, c3, r5, c5, pool = widths
    module = Branches(conv(c_in, c1, 1), chain(c_in, (r3, 1), (c3, 3)), chain(c_in, (r5, 1), (c5, 3)),
                      nn.Sequential(nn.MaxPool2d(3, 1, 1), conv(c_in, pool, 1)))
    return module, c1 + c3 + c5 + pool


def inception_v1(classes: int = 1000) -> nn.Module:
    """GoogLeNet without auxiliary classifiers (TF-slim layout)."""
    layers: list[nn.Module] = [conv(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1), conv(64, 64, 1), conv(64, 192, 3),
                               nn.MaxPool2d(3, 2, 1)]
    channels = 192
    for name, widths in V1_MODULES.items():
        if name == "4b":
            layers.append(nn.MaxPool2d(3, 2, 1))
        elif name == "5b":
            layers.append(nn.MaxPool2d(2, 2))
        module, channels = inception_v1_module(channels, widths)
        layers.append(module)
    return nn.Sequential(*layers, *classifier(channels, classes)).eval()


# -- Inception v4 ------------------------------------------------------------------------------

def avg_pool_branch(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.AvgPool2d(3, 1, 1, count_include_pad=False), conv(c_in, c_out, 1))


def v4_stem() -> nn.Sequential:
    """299x299x3 to 35x35x384 (Fig. 3)."""
    return nn.Sequential(
        conv(3, 32, 3, 2, same=False), conv(32, 32, 3, same=False), conv(32, 64, 3),
        Branches(nn.MaxPool2d(3, 2), conv(64, 96, 3, 2, same=False)),
        Branches(nn.Sequential(conv(160, 64, 1), conv(64, 96, 3, same=False)),
                 nn.Sequential(chain(160, (64, 1), (64, (1, 7)), (64, (7, 1))), conv(64, 96, 3, same=False))),
        Branches(conv(192, 192, 3, 2, same=False), nn.MaxPool2d(3, 2)))


def inception_a() -> Branches:
    """35x35x384 block (Fig. 4)."""
    return Branches(conv(384, 96, 1), chain(384, (64, 1), (96, 3)), chain(384, (64, 1), (96, 3), (96, 3)),
                    avg_pool_branch(384, 96))


def reduction_a() -> Branches:
    """35x35x384 to 17x17x1024 (Fig. 7, k=192, l=224, m=256, n=384)."""
    return Branches(conv(384, 384, 3, 2, same=False),
                    nn.Sequential(chain(384, (192, 1), (224, 3)), conv(224, 256, 3, 2, same=False)),
                    nn.MaxPool2d(3, 2))


def inception_b() -> Branches:
    """17x17x1024 block (Fig. 5)."""
    return Branches(conv(1024, 384, 1), chain(1024, (192, 1), (224, (1, 7)), (256, (7, 1))),
                    chain(1024, (192, 1), (192, (7, 1)), (224, (1, 7)), (224, (7, 1)), (256, (1, 7))),
                    avg_pool_branch(1024, 128))


def reduction_b() -> Branches:
    """17x17x1024 to 8x8x1536 (Fig. 8)."""
    return Branches(nn.Sequential(conv(1024, 192, 1), conv(192, 192, 3, 2, same=False)),
                    nn.Sequential(chain(1024, (256, 1), (256, (1, 7)), (320, (7, 1))),
                                  conv(320, 320, 3, 2, same=False)),
                    nn.MaxPool2d(3, 2))


class InceptionC(nn.Module):
    """8x8x1536 block (Fig. 6): two of its branches fork into parallel 1x3 and 3x1 convs."""

    def __init__(self):
        super().__init__()
        self.branch_1x1 = conv(1536, 256, 1)
        self.branch_3x3 = conv(1536, 384, 1)
        self.split_3x3 = Branches(conv(384, 256, (1, 3)), conv(384, 256, (3, 1)))
        self.branch_double = chain(1536, (384, 1), (448, (3, 1)), (512, (1, 3)))
        self.split_double = Branches(conv(512, 256, (1, 3)), conv(512, 256, (3, 1)))
        self.branch_pool = avg_pool_branch(1536, 256)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch_1x1(x), self.split_3x3(self.branch_3x3(x)),
                          self.split_double(self.branch_double(x)), self.branch_pool(x)], 1)


def inception_v4(classes: int = 1000) -> nn.Module:
    """Inception-v4 classifier."""
    return nn.Sequential(v4_stem(), *(inception_a() for _ in range(4)), reduction_a(),
                         *(inception_b() for _ in range(7)), reduction_b(),
                         *(InceptionC() for _ in range(3)), *classifier(1536, classes)).eval()


register(Architecture(
    id="inception_v1_224", build=inception_v1, input_size=224,
    reference="Szegedy et al., arXiv:1409.4842 (GoogLeNet, Table 1), as built in GitHub tensorflow/models "
              "research/slim/nets/inception_v1.py"))
register(Architecture(
    id="inception_v4_299", build=inception_v4, input_size=299,
    reference="Szegedy et al., arXiv:1602.07261 (Inception-v4, Figs. 3-9)"))
