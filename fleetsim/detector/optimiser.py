"""AdamW under a one-cycle schedule, the same steps as torch's ``AdamW`` with ``OneCycleLR``.

Every optimiser in ``torch.optim`` imports torch's compiler stack (``torch._dynamo``, about a
second of CPU and most of it under the GIL) the first time it is made, which every process's
first fine-tune paid while the simulation waited. This one does the same arithmetic, in the
same order, on float hyper-parameters (tests/test_detector.py checks the weights to the
bit against torch's), without importing it.

>>> import torch
>>> weight = torch.nn.Parameter(torch.ones(3))
>>> optimiser = OneCycleAdamW([weight], max_lr=0.1, weight_decay=0.0, total_steps=4)
>>> weight.sum().backward(); optimiser.step()
>>> bool((weight < 1).all())
True
"""

from __future__ import annotations

import math

import torch

PCT_START = 0.3  # share of the steps warming up (OneCycleLR's defaults from here on)
DIV_FACTOR = 25.0  # max_lr over the first step's lr
FINAL_DIV_FACTOR = 1e4  # first step's lr over the last step's
BASE_MOMENTUM, MAX_MOMENTUM = 0.85, 0.95  # beta1 cycles the other way round
BETA2, EPS = 0.999, 1e-8


class OneCycleAdamW:
    """AdamW (decoupled weight decay) whose lr and beta1 follow OneCycleLR's cosine phases."""

    def __init__(self, params, max_lr: float, weight_decay: float, total_steps: int):
        self.params = list(params)
        self.weight_decay = weight_decay
        first = max_lr / DIV_FACTOR
        # each phase: its last step, then lr and beta1 at its start and at its end
        self.phases = ((float(PCT_START * total_steps) - 1, first, max_lr, MAX_MOMENTUM, BASE_MOMENTUM),
                       (total_steps - 1, max_lr, first / FINAL_DIV_FACTOR, BASE_MOMENTUM, MAX_MOMENTUM))
        self.steps = 0  # steps taken
        self.state: dict[int, tuple[torch.Tensor, torch.Tensor, list[int]]] = {}  # moments, own steps

    def schedule(self) -> tuple[float, float]:
        """The learning rate and beta1 of the next step."""
        start = 0.0
        for i, (end, lr0, lr1, m0, m1) in enumerate(self.phases):
            if self.steps <= end or i == len(self.phases) - 1:
                pct = (self.steps - start) / (end - start)
                return _cos(lr0, lr1, pct), _cos(m0, m1, pct)
            start = end
        raise AssertionError("unreachable")

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        lr, beta1 = self.schedule()
        for p in self.params:
            if p.grad is None:
                continue
            if id(p) not in self.state:
                self.state[id(p)] = (torch.zeros_like(p, memory_format=torch.preserve_format),
                                     torch.zeros_like(p, memory_format=torch.preserve_format), [0])
            exp_avg, exp_avg_sq, count = self.state[id(p)]
            count[0] += 1
            step = float(count[0])
            p.mul_(1 - lr * self.weight_decay)
            exp_avg.lerp_(p.grad, 1 - beta1)
            exp_avg_sq.mul_(BETA2).addcmul_(p.grad, p.grad, value=1 - BETA2)
            step_size = lr / (1 - beta1**step)
            denom = (exp_avg_sq.sqrt() / (1 - BETA2**step) ** 0.5).add_(EPS)
            p.addcdiv_(exp_avg, denom, value=-step_size)
        self.steps += 1


def _cos(start: float, end: float, pct: float) -> float:
    """Cosine from ``start`` to ``end`` as ``pct`` goes from 0 to 1 (OneCycleLR's ``_annealing_cos``)."""
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
