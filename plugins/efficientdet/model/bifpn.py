"""BiFPN: extra pyramid levels (P6, P7) and the repeated top-down + bottom-up fusion layers."""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .activation import silu
from .padding import same_pad


class ConvBN(nn.Sequential):
    """1x1 conv + BN: the channel projection used when resampling."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))


class SeparableConvBN(nn.Sequential):
    """Depthwise 3x3 + pointwise 1x1 conv, then BN (no conv bias: BN's shift makes it redundant)."""

    def __init__(self, channels: int) -> None:
        super().__init__(
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
            nn.Conv2d(channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
        )


def _downsample(x: Tensor, same_padding: bool = False) -> Tensor:
    # 3x3/s2 with padding 1 gives ceil(H/2), the same sizes as the backbone's stride-2 convs.
    if same_padding:  # TF's layout (tf_layout.py): the same sizes, padded after rather than around
        return F.max_pool2d(same_pad(x, 3, 2, value=-math.inf), kernel_size=3, stride=2)
    return F.max_pool2d(x, kernel_size=3, stride=2, padding=1)


class Resample(nn.Module):
    """Bring one input of a fusion node to the node's channel count and level (one level apart at most)."""

    same_padding = False  # TF's layout pads the max-pool "same" (tf_layout.py)

    def __init__(self, in_channels: int, out_channels: int, level_step: int) -> None:
        super().__init__()
        self.project = ConvBN(in_channels, out_channels) if in_channels != out_channels else nn.Identity()
        self.level_step = level_step  # target level minus input level: -1 up, 0 same, +1 down

    def forward(self, x: Tensor, size: torch.Size) -> Tensor:
        x = self.project(x)
        if self.level_step < 0:
            return F.interpolate(x, size=size, mode="nearest")  # size, not x2: odd sizes round up
        if self.level_step > 0:
            return _downsample(x, self.same_padding)
        return x


class FusionNode(nn.Module):
    """One BiFPN node: resample the inputs, fuse, swish, separable conv, BN.

    ``inputs`` index the list of feature maps available to the layer (the layer's inputs,
    then the outputs of earlier nodes). Input 0 is always at the node's own level.
    """

    def __init__(self, inputs: list[int], in_channels: list[int], step: list[int], channels: int,
                 fusion: Literal["fast", "sum"]) -> None:
        super().__init__()
        if len(inputs) < 2:
            raise ValueError(f"a fusion node fuses two or more feature maps, got inputs {inputs}")
        self.inputs = inputs
        self.resample = nn.ModuleList(Resample(c, channels, s) for c, s in zip(in_channels, step))
        # Fast normalized fusion: relu keeps weights >= 0, eps keeps the division stable.
        self.weight = nn.Parameter(torch.ones(len(inputs))) if fusion == "fast" else None
        self.conv = SeparableConvBN(channels)

    def forward(self, features: list[Tensor]) -> Tensor:
        size = features[self.inputs[0]].shape[-2:]
        xs = [r(features[i], size) for r, i in zip(self.resample, self.inputs)]
        if self.weight is not None:
            w = F.relu(self.weight)
            w = w / (w.sum() + 1e-4)
            xs = [wi * x for wi, x in zip(w.unbind(), xs)]
        fused = xs[0]
        for x in xs[1:]:
            fused = fused + x
        return self.conv(silu(fused))  # a sum of two or more maps: a new tensor, which silu may overwrite


class BiFPNLayer(nn.Module):
    """Top-down pass (P_{n-1} .. P3), then bottom-up pass (P4 .. P_n); outputs P3 .. P_n."""

    def __init__(self, in_channels: list[int], channels: int, fusion: Literal["fast", "sum"]) -> None:
        super().__init__()
        n = len(in_channels)
        level_of, channels_of = list(range(n)), list(in_channels)  # per available map
        self.nodes = nn.ModuleList()

        def add_node(level: int, inputs: list[int]) -> int:
            self.nodes.append(FusionNode(inputs, [channels_of[i] for i in inputs],
                                         [level - level_of[i] for i in inputs], channels, fusion))
            level_of.append(level)
            channels_of.append(channels)
            return len(level_of) - 1

        top_down = {n - 1: n - 1}  # level -> index of its top-down map (the top level is its input)
        for level in range(n - 2, -1, -1):
            top_down[level] = add_node(level, [level, top_down[level + 1]])
        self.outputs = [top_down[0]]  # P3 is final after the top-down pass
        for level in range(1, n):
            middle = [top_down[level]] if level < n - 1 else []
            self.outputs.append(add_node(level, [level, *middle, self.outputs[-1]]))

    def forward(self, features: list[Tensor]) -> list[Tensor]:
        features = list(features)
        for node in self.nodes:
            features.append(node(features))
        return [features[i] for i in self.outputs]


class BiFPN(nn.Module):
    """Adds the pooled levels above the backbone's stride-32 map, then ``repeats`` BiFPN layers."""

    same_padding = False  # TF's layout pads the max-pools "same" (tf_layout.py)

    def __init__(self, in_channels: list[int], channels: int, num_levels: int, repeats: int,
                 fusion: Literal["fast", "sum"]) -> None:
        super().__init__()
        extra = num_levels - len(in_channels)
        # First extra level: 1x1 conv + BN to the BiFPN width, then pool; the next ones: pool only.
        self.extra_project = ConvBN(in_channels[-1], channels) if extra else None
        self.num_extra = extra
        level_channels = list(in_channels) + [channels] * extra
        self.layers = nn.ModuleList(
            BiFPNLayer(level_channels if i == 0 else [channels] * num_levels, channels, fusion)
            for i in range(repeats)
        )

    def forward(self, features: list[Tensor]) -> list[Tensor]:
        features = list(features)
        if self.extra_project is not None:
            x = self.extra_project(features[-1])
            for _ in range(self.num_extra):
                x = _downsample(x, self.same_padding)
                features.append(x)
        for layer in self.layers:
            features = layer(features)
        return features
