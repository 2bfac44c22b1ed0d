"""EfficientDet variant table (D0-D7), as in the paper and the official TF configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dnn_suite.errors import UsageError


@dataclass(frozen=True)
class EfficientDetConfig:
    """Everything that differs between variants; the anchor fields also drive anchor generation."""

    name: str
    image_size: int
    backbone: str
    fpn_channels: int
    fpn_repeats: int
    head_repeats: int
    fusion: Literal["fast", "sum"]
    anchor_scale: float
    min_level: int = 3
    max_level: int = 7
    num_scales: int = 3
    aspect_ratios: tuple[tuple[float, float], ...] = ((1.0, 1.0), (1.4, 0.7), (0.7, 1.4))

    def __post_init__(self) -> None:
        if self.fusion not in ("fast", "sum"):
            raise ValueError(f"fusion must be 'fast' or 'sum', got {self.fusion!r}")
        # The backbone delivers strides 8/16/32 (P3-P5); further levels are made by pooling.
        if self.min_level != 3 or self.max_level < 5:
            raise ValueError(f"levels must be P3..Pn with n >= 5, got P{self.min_level}..P{self.max_level}")

    @property
    def num_levels(self) -> int:
        return self.max_level - self.min_level + 1

    @property
    def num_anchors(self) -> int:
        """Anchors per feature-map location."""
        return self.num_scales * len(self.aspect_ratios)


def _variant(name: str, size: int, backbone: str, width: int, fpn: int, head: int,
             fusion: Literal["fast", "sum"] = "fast", anchor_scale: float = 4.0) -> EfficientDetConfig:
    return EfficientDetConfig(name, size, f"efficientnet_{backbone}", width, fpn, head, fusion, anchor_scale)


VARIANTS: dict[str, EfficientDetConfig] = {
    c.name: c
    for c in (
        _variant("d0", 512, "b0", 64, 3, 3),
        _variant("d1", 640, "b1", 88, 4, 3),
        _variant("d2", 768, "b2", 112, 5, 3),
        _variant("d3", 896, "b3", 160, 6, 4),
        _variant("d4", 1024, "b4", 224, 7, 4),
        _variant("d5", 1280, "b5", 288, 7, 4),
        _variant("d6", 1280, "b6", 384, 8, 5, fusion="sum"),
        _variant("d7", 1536, "b6", 384, 8, 5, fusion="sum", anchor_scale=5.0),
    )
}


def get_config(variant: str) -> EfficientDetConfig:
    """The configuration of ``variant`` ("d0".."d7", case-insensitive)."""
    try:
        return VARIANTS[variant.lower()]
    except KeyError:
        raise UsageError(
            f"unknown EfficientDet variant {variant!r}; expected one of {', '.join(VARIANTS)}"
        ) from None
