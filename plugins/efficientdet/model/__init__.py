"""EfficientDet model: configuration, network, anchors, loss and post-processing."""

from .anchors import AnchorParams, generate_anchors
from .backbone import EfficientNetBackbone, load_backbone_weights
from .boxes import decode_boxes, encode_boxes
from .config import VARIANTS, EfficientDetConfig, get_config
from .efficientdet import EfficientDet, build_efficientdet
from .loss import DetectionLoss, match_anchors
from .postprocess import postprocess

__all__ = [
    "AnchorParams",
    "DetectionLoss",
    "EfficientDet",
    "EfficientDetConfig",
    "EfficientNetBackbone",
    "VARIANTS",
    "build_efficientdet",
    "decode_boxes",
    "encode_boxes",
    "generate_anchors",
    "get_config",
    "load_backbone_weights",
    "match_anchors",
    "postprocess",
]
