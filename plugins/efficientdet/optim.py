"""The official training recipe's optimizer and schedule.

SGD with momentum 0.9; the learning rate is 0.08 per 64 images, scaled linearly with the
batch size; weight decay 4e-5 on convolution and linear weights only (not on BatchNorm
parameters or biases). The schedule, linear warmup then cosine decay, is
:func:`dnn_suite.training.schedule.warmup_cosine`.
"""

from __future__ import annotations

import torch
from torch import nn


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weights of convolutions and linear layers decay; BN parameters, biases and the BiFPN
    fusion weights (all 0- or 1-dimensional) do not."""
    decay, no_decay = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (decay if parameter.ndim > 1 else no_decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


#: the recipe's SGD learning rate per training image: 0.08 per 64 images, scaled with the batch
LR_PER_IMAGE = 0.08 / 64


def recipe_lr(batch_size: int) -> float:
    """The recipe's learning rate for a batch of ``batch_size`` images (all processes')."""
    return LR_PER_IMAGE * batch_size


def build_sgd(model: nn.Module, *, lr: float, momentum: float, weight_decay: float,
              fused: bool = False) -> torch.optim.SGD:
    """``fused`` (for CUDA): one kernel for the whole update, and GradScaler hands it the
    inf/NaN flag on the device instead of reading it on the host every step."""
    return torch.optim.SGD(parameter_groups(model, weight_decay), lr=lr, momentum=momentum, fused=fused or None)
