"""Box coding relative to anchors, and IoU between anchors and batched ground truth."""

from __future__ import annotations

import math

import torch
from torch import Tensor

# Largest log-scale the decoder accepts, so an untrained head cannot overflow exp().
_MAX_LOG_SCALE = math.log(1000.0 / 16)


def _centre_size(boxes: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    x1, y1, x2, y2 = boxes.unbind(-1)
    return (y1 + y2) / 2, (x1 + x2) / 2, y2 - y1, x2 - x1


def encode_boxes(boxes: Tensor, anchors: Tensor) -> Tensor:
    """(ty, tx, th, tw) of xyxy ``boxes`` relative to broadcastable xyxy ``anchors``; no scale factors."""
    yc, xc, h, w = _centre_size(boxes)
    ya, xa, ha, wa = _centre_size(anchors)
    return torch.stack([(yc - ya) / ha, (xc - xa) / wa, torch.log(h / ha), torch.log(w / wa)], dim=-1)


def decode_boxes(codes: Tensor, anchors: Tensor) -> Tensor:
    """Inverse of :func:`encode_boxes`: xyxy boxes from (ty, tx, th, tw) codes."""
    ya, xa, ha, wa = _centre_size(anchors)
    ty, tx, th, tw = codes.unbind(-1)
    yc, xc = ty * ha + ya, tx * wa + xa
    h = torch.exp(th.clamp(max=_MAX_LOG_SCALE)) * ha
    w = torch.exp(tw.clamp(max=_MAX_LOG_SCALE)) * wa
    return torch.stack([xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2], dim=-1)


def anchor_iou(anchors: Tensor, boxes: Tensor) -> Tensor:
    """IoU [N, A, G] of anchors [A, 4] with each image's boxes [N, G, 4], both xyxy."""
    a = anchors[None, :, None, :]
    b = boxes[:, None, :, :]
    iw = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0])).clamp_(min=0)
    ih = (torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1])).clamp_(min=0)
    inter = iw.mul_(ih)
    area_a = (anchors[:, 2] - anchors[:, 0]) * (anchors[:, 3] - anchors[:, 1])
    area_b = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    union = area_a[None, :, None] + area_b[:, None, :] - inter
    return inter / union.clamp_(min=1e-9)
