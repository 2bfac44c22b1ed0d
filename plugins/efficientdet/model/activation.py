"""Swish (SiLU), in place only where autograd does not record.

While autograd records, an in-place SiLU makes it keep a copy of each input for the backward (silu's
backward needs the input, which the in-place op overwrites): 48 full-size copies in the backbone alone.
Out of place, the output is a new tensor and the input is what autograd keeps. Under ``torch.no_grad``
or ``torch.inference_mode`` (evaluation, prediction) nothing is kept, so in place saves allocating and
filling one activation-sized tensor per call. The callers only pass tensors they have just made (a
batch norm's output, a sum), so overwriting them changes nothing else.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def silu(x: Tensor) -> Tensor:
    return F.silu(x, inplace=not torch.is_grad_enabled())


class SiLU(nn.Module):
    """:func:`silu` as a module, in place of torchvision's ``nn.SiLU(inplace=True)``."""

    def forward(self, x: Tensor) -> Tensor:
        return silu(x)


def replace_silu(module: nn.Module) -> None:
    """Put :class:`SiLU` in place of every ``nn.SiLU`` inside ``module`` (no parameters change)."""
    for parent in module.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.SiLU):
                setattr(parent, name, SiLU())
