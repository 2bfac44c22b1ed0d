"""Anchor boxes in input-image pixels, in the order the heads flatten their outputs."""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor


class AnchorParams(Protocol):
    """What anchor generation needs; :class:`EfficientDetConfig` provides it."""

    min_level: int
    max_level: int
    num_scales: int
    aspect_ratios: tuple[tuple[float, float], ...]
    anchor_scale: float


def feature_sizes(image_size: int | tuple[int, int], num_levels: int) -> list[tuple[int, int]]:
    """(H, W) of P1 .. P_{num_levels}: every stride-2 step rounds up, as the convs and pools do."""
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    sizes = []
    for _ in range(num_levels):
        h, w = -(-h // 2), -(-w // 2)
        sizes.append((h, w))
    return sizes


def generate_anchors(params: AnchorParams, image_size: int | tuple[int, int], *,
                     device: torch.device | str | None = None) -> Tensor:
    """Anchors [A, 4] as (x1, y1, x2, y2), ordered level (min..max) -> row -> col -> anchor.

    At each location of level l (stride s = 2^l) the anchors are centred at
    (s/2 + col*s, s/2 + row*s); their base size is anchor_scale * s * 2^(octave/num_scales),
    stretched by each aspect ratio (x factor, y factor); octave-major, aspect-minor.
    """
    sizes = feature_sizes(image_size, params.max_level)
    octaves = torch.arange(params.num_scales, dtype=torch.float64) / params.num_scales
    ratios = torch.tensor(params.aspect_ratios, dtype=torch.float64)  # [R, 2] as (x, y)
    per_level = []
    for level in range(params.min_level, params.max_level + 1):
        stride = 2.0 ** level
        h, w = sizes[level - 1]
        base = params.anchor_scale * stride * 2.0 ** octaves  # [S]
        half = (base[:, None, None] * ratios[None]).reshape(-1, 2) / 2  # [S*R, 2] half (width, height)
        cy = torch.arange(h, dtype=torch.float64) * stride + stride / 2
        cx = torch.arange(w, dtype=torch.float64) * stride + stride / 2
        centres = torch.stack(torch.meshgrid(cx, cy, indexing="xy"), dim=-1)  # [h, w, 2] as (x, y)
        centres = centres[:, :, None, :]
        per_level.append(torch.cat([centres - half, centres + half], dim=-1).reshape(-1, 4))
    return torch.cat(per_level).to(device=device, dtype=torch.float32)
