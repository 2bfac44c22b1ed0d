"""What a model's convolutions actually get while the CLI runs it: the tensors' dtype and memory
format, seen from inside every ``nn.Conv2d`` forward (tests of ``--amp`` and ``--channels-last``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


@contextlib.contextmanager
def convolutions_seen() -> Iterator[list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]]:
    """(input, weight, output) of every Conv2d forward inside the block, in call order."""
    seen = []

    def record(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            seen.append((inputs[0], module.weight, output))

    handle = nn.modules.module.register_module_forward_hook(record)
    try:
        yield seen
    finally:
        handle.remove()


def only_in(tensor: torch.Tensor, memory_format: torch.memory_format) -> bool:
    """Contiguous in ``memory_format`` (channels-last or contiguous) and not in the other one."""
    other = torch.contiguous_format if memory_format == torch.channels_last else torch.channels_last
    return tensor.is_contiguous(memory_format=memory_format) and not tensor.is_contiguous(memory_format=other)


def spatial_weights(seen: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> list[torch.Tensor]:
    """The weights whose two layouts differ: more than one input channel and a spatial kernel."""
    return [w for _, w, _ in seen if w.shape[1] > 1 and w.shape[2] > 1]
