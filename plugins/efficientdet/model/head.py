"""Class and box prediction nets, shared across pyramid levels."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .activation import silu


class HeadNet(nn.Module):
    """``repeats`` x (separable conv, BN, swish), then a separable conv predicting per anchor.

    Conv weights are shared by all levels; BatchNorm is per level because feature statistics
    differ between levels. Output: [N, sum over levels of H*W*num_anchors, num_outputs], rows
    ordered level -> row -> col -> anchor, the order of :func:`generate_anchors`.
    """

    def __init__(self, channels: int, num_outputs: int, num_anchors: int, repeats: int, num_levels: int,
                 prior_probability: float | None = None) -> None:
        super().__init__()
        self.num_outputs = num_outputs
        self.depthwise = nn.ModuleList(
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False) for _ in range(repeats))
        self.pointwise = nn.ModuleList(nn.Conv2d(channels, channels, 1, bias=False) for _ in range(repeats))
        self.norms = nn.ModuleList(
            nn.ModuleList(nn.BatchNorm2d(channels) for _ in range(num_levels)) for _ in range(repeats))
        self.predict = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
            nn.Conv2d(channels, num_anchors * num_outputs, 1),
        )
        # The official variance-scaling init (truncated normal, std sqrt(1 / fan_in)) for the separable
        # convs. Not N(0, 0.01): with that, a layer's output variance (~1e-5) is far below the BN
        # eps (1e-3), so BN cannot restore it, the signal vanishes through the repeats and the
        # heads start (and stay for hundreds of steps) blind to their input. Only the output
        # layer keeps std 0.01, so that every anchor starts at the prior.
        for conv in [*self.depthwise, *self.pointwise, self.predict[0]]:
            std = math.sqrt(1.0 / conv.weight[0].numel()) / 0.87962566103423978  # TF's truncation correction
            nn.init.trunc_normal_(conv.weight, std=std, a=-2 * std, b=2 * std)
        nn.init.normal_(self.predict[1].weight, std=0.01)
        # Focal-loss prior: every anchor starts predicting "object" with probability 0.01, so the
        # many easy negatives do not swamp the first iterations.
        bias = -math.log((1 - prior_probability) / prior_probability) if prior_probability else 0.0
        nn.init.constant_(self.predict[1].bias, bias)

    def forward(self, features: list[Tensor]) -> Tensor:
        outputs = []
        for level, x in enumerate(features):
            for dw, pw, norms in zip(self.depthwise, self.pointwise, self.norms):
                x = silu(norms[level](pw(dw(x))))
            x = self.predict(x)
            # [N, A*K, H, W] -> [N, H, W, A*K] -> [N, H*W*A, K]; a view when x is channels_last.
            outputs.append(x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, self.num_outputs))
        return torch.cat(outputs, dim=1)
