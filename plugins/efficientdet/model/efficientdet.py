"""The EfficientDet network and its builder."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from torch import Tensor, nn

from dnn_suite.errors import UsageError

from .anchors import generate_anchors
from .backbone import EfficientNetBackbone, load_backbone_weights
from .bifpn import BiFPN
from .config import EfficientDetConfig, get_config
from .head import HeadNet
from .tf_layout import apply_tf_layout

# TF's BatchNorm settings (decay 0.99, eps 1e-3), for every BN in the model including the backbone.
BN_MOMENTUM = 0.01
BN_EPS = 1e-3
CLASS_PRIOR = 0.01


class EfficientDet(nn.Module):
    """EfficientNet backbone -> BiFPN -> class and box heads.

    ``forward`` returns class logits [N, A, num_classes] and box codes [N, A, 4], rows in the
    order of ``self.anchors(image_size)``.
    """

    def __init__(self, config: EfficientDetConfig, num_classes: int) -> None:
        super().__init__()
        self.config = config
        self.num_classes = num_classes
        self.backbone = EfficientNetBackbone(config.backbone)
        self.fpn = BiFPN(self.backbone.out_channels, config.fpn_channels, config.num_levels,
                         config.fpn_repeats, config.fusion)
        head_args = (config.num_anchors, config.head_repeats, config.num_levels)
        self.class_net = HeadNet(config.fpn_channels, num_classes, *head_args, prior_probability=CLASS_PRIOR)
        self.box_net = HeadNet(config.fpn_channels, 4, *head_args)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum, m.eps = BN_MOMENTUM, BN_EPS

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        features = self.fpn(self.backbone(images))
        return self.class_net(features), self.box_net(features)

    def anchors(self, image_size: int | tuple[int, int] | None = None) -> Tensor:
        """Anchors [A, 4] (xyxy, input pixels) on the model's device; default size: the config's."""
        size = self.config.image_size if image_size is None else image_size
        return generate_anchors(self.config, size, device=next(self.parameters()).device)


def build_efficientdet(variant: str, num_classes: int, image_size: int | None = None,
                       backbone_weights: str | Path | None = None, tf_layout: bool = False) -> EfficientDet:
    """Build EfficientDet ``variant`` ("d0".."d7") for ``num_classes`` classes.

    ``image_size`` overrides the variant's input size. ``backbone_weights`` is a torchvision
    EfficientNet state-dict file, or "imagenet" for torchvision's weights already in the torch
    hub cache (never downloaded); they are loaded after all initialisation, so they stay intact.
    ``tf_layout``: TF's "same" padding and conv biases (see tf_layout.py), for the official weights.
    """
    config = get_config(variant)
    if num_classes < 1:
        raise UsageError(f"num_classes must be >= 1, got {num_classes}")
    if image_size is not None:
        if image_size < 1:
            raise UsageError(f"image size must be a positive number of pixels, got {image_size}")
        config = dataclasses.replace(config, image_size=image_size)
    model = EfficientDet(config, num_classes)
    if tf_layout:
        apply_tf_layout(model)
    if backbone_weights is not None:
        load_backbone_weights(model.backbone, backbone_weights)
    return model
