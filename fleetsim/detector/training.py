"""Deterministic training and fine-tuning of the detector on rendered frames.

>>> from fleetsim.detector.dataset import clear_day, render_dataset
>>> frames = render_dataset(64, seed=1, conditions=clear_day(64, seed=1))   # doctest: +SKIP
>>> model = train(initial_model(1), frames, seed=1)                        # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional

from fleetsim.detector.model import DEFAULT_WIDTHS, CenterNet
from fleetsim.detector.optimiser import OneCycleAdamW
from fleetsim.detector.targets import encode
from fleetsim.world import AnnotatedFrames
from fleetsim.world.scene import CLASSES

SIZE_WEIGHT, OFFSET_WEIGHT = 0.1, 1.0
DISTILL_WEIGHT = 1.0  # of the teacher term against the ground-truth term


@dataclass(frozen=True)
class TrainingSettings:
    epochs: int = 12
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    threads: int = 2
    channels_last: bool = False
    """Train on channels-last (NHWC) tensors: oneDNN's faster convolution kernels, a step in about
    two thirds of the time, with other float sums (the same seed still gives the same weights). The
    fine-tunes use it; the build leaves it off, so that it still gives the shipped models to the bit."""


def to_tensor(images: np.ndarray) -> np.ndarray:
    """uint8 (B, H, W, 3) -> float32 (B, 3, H, W) in [0, 1], the detector's input."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32) * np.float32(1 / 255)


def initial_model(seed: int, widths: tuple[int, ...] = DEFAULT_WIDTHS) -> CenterNet:
    """A freshly initialised detector; the same seed gives the same starting weights."""
    torch.manual_seed(seed)
    return CenterNet(widths)


def detection_loss(outputs, targets) -> torch.Tensor:
    """CenterNet loss: penalty-reduced focal loss on heatmaps + L1 on size and offset at centres."""
    heat, size, offset = outputs
    t_heat, t_size, t_offset, mask = targets
    heat = heat.clamp(1e-4, 1 - 1e-4)
    positive = t_heat.eq(1).float()
    pos_loss = -(torch.log(heat) * (1 - heat) ** 2 * positive).sum()
    neg_loss = -(torch.log(1 - heat) * heat ** 2 * (1 - t_heat) ** 4 * (1 - positive)).sum()
    n = positive.sum().clamp(min=1)
    size_loss = functional.l1_loss(size * mask, t_size * mask, reduction="sum") / n
    offset_loss = functional.l1_loss(offset * mask, t_offset * mask, reduction="sum") / n
    return (pos_loss + neg_loss) / n + SIZE_WEIGHT * size_loss + OFFSET_WEIGHT * offset_loss


def distillation_loss(outputs, teacher, mask: torch.Tensor) -> torch.Tensor:
    """Knowledge distillation from a teacher's raw head outputs on the same frames: squared error to
    its soft heatmaps everywhere, L1 to its sizes and offsets at the true centres (``mask``)."""
    heat, size, offset = outputs
    t_heat, t_size, t_offset = teacher
    n = mask.sum().clamp(min=1)
    soft = ((heat - t_heat) ** 2).sum() / n
    size_loss = functional.l1_loss(size * mask, t_size * mask, reduction="sum") / n
    offset_loss = functional.l1_loss(offset * mask, t_offset * mask, reduction="sum") / n
    return soft + SIZE_WEIGHT * size_loss + OFFSET_WEIGHT * offset_loss


def train(model: CenterNet, frames: AnnotatedFrames, seed: int,
          settings: TrainingSettings = TrainingSettings(),
          on_epoch: Callable[[int, float], None] | None = None,
          teacher: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> CenterNet:
    """Train (or fine-tune) ``model`` in place on ``frames``; same inputs and seed, same weights.

    ``teacher`` (its heatmap, size and offset outputs on ``frames``) adds ``distillation_loss``
    to the ground-truth loss."""
    torch.manual_seed(seed)
    torch.set_num_threads(settings.threads)
    torch.set_deterministic_debug_mode("error")  # use_deterministic_algorithms(True), without the compiler
    n, height, width, _ = frames.images.shape
    layout = torch.channels_last if settings.channels_last else torch.contiguous_format
    model.to(memory_format=layout)
    t = encode(frames.frame, frames.cls, frames.box, n, len(CLASSES), height, width)
    targets = [torch.from_numpy(a) for a in (t.heatmap, t.size, t.offset, t.mask)]
    soft = [torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for a in teacher or ()]
    steps = settings.epochs * max(1, -(-n // settings.batch_size))
    optimiser = OneCycleAdamW(model.parameters(), settings.learning_rate, settings.weight_decay, steps)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for epoch in range(settings.epochs):
        order, total = torch.randperm(n, generator=generator), 0.0
        for start in range(0, n, settings.batch_size):
            rows = order[start:start + settings.batch_size]
            # each batch's input made when it is needed: all of them at once are 110 kB a frame
            inputs = torch.from_numpy(to_tensor(frames.images[rows.numpy()])).contiguous(memory_format=layout)
            outputs = model(inputs)
            loss = detection_loss(outputs, [x[rows] for x in targets])
            if soft:
                loss = loss + DISTILL_WEIGHT * distillation_loss(outputs, [x[rows] for x in soft],
                                                                 targets[3][rows])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(rows)
        if on_epoch is not None:
            on_epoch(epoch, total / n)
    model.to(memory_format=torch.contiguous_format)
    model.eval()
    return model
