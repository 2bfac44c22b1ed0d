"""Mixed precision and memory format for model plugins' training steps.

``--amp`` is bf16 autocast on the CPU (fp16 autocast is slow there) and fp16 autocast with a
GradScaler on CUDA, or the dtype asked for: bf16 needs no GradScaler, its exponent range is
fp32's, while fp16 gradients underflow without loss scaling. Nothing here reads a value back
to the host, so a step built on it queues its work without a host-device sync.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager

import torch
from torch import nn

from dnn_suite.phases import phase

AMP_DTYPES = ("auto", "float16", "bfloat16")


def autocast_dtype(name: str, device: torch.device) -> torch.dtype:
    """``auto``: fp16 on CUDA, bf16 on the CPU."""
    if name == "auto":
        return torch.float16 if device.type == "cuda" else torch.bfloat16
    return getattr(torch, name)


def memory_format(channels_last: bool) -> torch.memory_format:
    return torch.channels_last if channels_last else torch.contiguous_format


class MixedPrecision:
    """Autocast for the forward pass and, for fp16, the GradScaler around backward and step."""

    def __init__(self, device: torch.device, *, enabled: bool, dtype: str = "auto") -> None:
        if dtype not in AMP_DTYPES:
            raise ValueError(f"amp dtype {dtype!r} is not one of {', '.join(AMP_DTYPES)}")
        self.device = device
        self.enabled = enabled
        self.dtype = autocast_dtype(dtype, device)
        self.scaler = torch.amp.GradScaler(device.type, enabled=enabled and self.dtype == torch.float16)

    def autocast(self) -> AbstractContextManager:
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=self.enabled)

    def backward_and_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, *,
                          clip_grad_norm: float = 0.0, parameters: Iterable[torch.Tensor] = ()) -> None:
        """Gradients of ``loss`` (scaled for fp16) and one optimizer step (skipped on inf/NaN gradients).
        With ``clip_grad_norm`` > 0 the gradients of ``parameters`` are first unscaled and clipped
        to that total norm. Marks the phases ``backward`` and ``optimizer`` (:mod:`dnn_suite.phases`)."""
        with phase("backward"):
            optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
        with phase("optimizer"):
            if clip_grad_norm > 0:
                self.scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(parameters, clip_grad_norm)
            self.scaler.step(optimizer)
            self.scaler.update()
