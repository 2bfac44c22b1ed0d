"""The learning-rate schedule: linear warmup, then cosine decay to 0 over the whole run."""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR


def warmup_cosine(optimizer: torch.optim.Optimizer, *, warmup_steps: int, total_steps: int,
                  warmup_start: float = 0.1) -> LambdaLR:
    """Linear warmup from ``warmup_start`` x lr to lr over ``warmup_steps``, then cosine to 0."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return warmup_start + (1 - warmup_start) * step / max(1, warmup_steps)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return LambdaLR(optimizer, factor)


def follow_new_length(scheduler: LambdaLR, optimizer: torch.optim.Optimizer) -> None:
    """After loading the state of a run of another length: keep its step, but take this run's
    schedule (``scheduler``'s own factor function) from here on. A LambdaLR's state keeps no
    function, so only the learning rates it derived must be recomputed."""
    scheduler.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
    factor = scheduler.lr_lambdas[0](scheduler.last_epoch)
    for group, base in zip(optimizer.param_groups, scheduler.base_lrs):
        group["lr"] = base * factor
    scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]
