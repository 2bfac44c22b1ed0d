"""TensorFlow's "same" padding (see tf_layout.py)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def same_pad(x: Tensor, kernel: int, stride: int, value: float = 0.0) -> Tensor:
    """``x`` padded as TF's "same" padding does before a ``kernel``/``stride`` window."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad takes the last dimension first
        total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value)
