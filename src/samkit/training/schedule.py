"""Learning-rate schedule: linear warmup, then cosine or step decay (the paper uses step decay)."""

from __future__ import annotations

import math

import torch


class WarmupDecay:
    """lr factor at optimizer step s (0-based): (s+1)/warmup during warmup, then cosine from 1 to
    min_ratio at max_steps, or x0.1 at each milestone fraction of max_steps, or constant."""

    def __init__(self, warmup_steps: int, max_steps: int, kind: str = "cosine", min_ratio: float = 0.05,
                 milestones: tuple[float, ...] = (0.85, 0.95)):
        self.warmup, self.max_steps, self.kind = warmup_steps, max_steps, kind
        self.min_ratio, self.milestones = min_ratio, milestones

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        if self.kind == "constant":
            return 1.0
        if self.kind == "step":
            return 0.1 ** sum(step >= m * self.max_steps for m in self.milestones)
        span = max(self.max_steps - self.warmup, 1)
        t = min((step - self.warmup) / span, 1.0)
        return self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * t))


def build_scheduler(optimizer: torch.optim.Optimizer, fn: WarmupDecay) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, fn)
