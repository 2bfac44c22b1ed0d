"""Anchor matching and the EfficientDet training loss (focal + Huber), vectorised over the batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pad_sequence

from .boxes import anchor_iou, encode_boxes

FOCAL_ALPHA = 0.25
FOCAL_GAMMA = 1.5
HUBER_DELTA = 0.1
BOX_LOSS_WEIGHT = 50.0
MATCH_IOU = 0.5


def pad_targets(targets: list[dict[str, Tensor]], device: torch.device) -> tuple[Tensor, Tensor]:
    """Ground truth as boxes [N, G, 4] (float32) and labels [N, G] padded with -1; G >= 1."""
    boxes = pad_sequence([t["boxes"].to(device, torch.float32).reshape(-1, 4) for t in targets],
                         batch_first=True)
    labels = pad_sequence([t["labels"].to(device, torch.int64).reshape(-1) for t in targets],
                          batch_first=True, padding_value=-1)
    if labels.shape[1] == 0:  # no image has objects: one invalid slot keeps the reductions defined
        boxes, labels = boxes.new_zeros(len(targets), 1, 4), labels.new_full((len(targets), 1), -1)
    return boxes, labels


def match_anchors(anchors: Tensor, gt_boxes: Tensor, gt_labels: Tensor) -> tuple[Tensor, Tensor]:
    """Index [N, A] of the ground truth matched to each anchor, and the positive mask [N, A].

    An anchor is positive when its best IoU is >= 0.5 (no ignore band: the rest are negatives).
    Each valid ground-truth box is also force-matched to its best anchor, so small or oddly shaped
    objects still get a positive; boxes overlapping no anchor at all (e.g. zero area) get none.
    """
    valid = gt_labels >= 0
    iou = anchor_iou(anchors, gt_boxes).masked_fill_(~valid[:, None, :], -1.0)
    best_iou, matched = iou.max(dim=2)
    positive = best_iou >= MATCH_IOU
    anchor_best_iou, best_anchor = iou.max(dim=1)  # [N, G]
    gt_index = torch.arange(gt_labels.shape[1], device=gt_labels.device).expand_as(gt_labels)
    gt_index = gt_index.masked_fill(~(valid & (anchor_best_iou > 0)), -1)
    # When several boxes claim the same anchor, the highest index wins (deterministic, unlike scatter_).
    forced = torch.full_like(matched, -1).scatter_reduce_(1, best_anchor, gt_index, reduce="amax")
    return torch.where(forced >= 0, forced, matched), positive | (forced >= 0)


def focal_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Element-wise sigmoid focal loss (alpha 0.25, gamma 1.5); the reference :func:`focal_loss_sum` is checked against."""
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    alpha_t = FOCAL_ALPHA * targets + (1 - FOCAL_ALPHA) * (1 - targets)
    return alpha_t * (1 - p_t).pow(FOCAL_GAMMA) * ce


def _focal_term(z: Tensor) -> Tensor:
    """sigmoid(z)^1.5 * softplus(z): the unweighted focal term of logit z for target 0 (of -z for target 1).

    ``s * sqrt(s)`` rather than ``s.pow(1.5)``: the same value to rounding, and sqrt is several
    times cheaper than pow on a CPU (docs: performance, what was made fast).
    """
    s = torch.sigmoid(z)
    return s * s.sqrt() * F.softplus(z)


class _BackgroundFocalSum(torch.autograd.Function):
    """sum(sigmoid(x)^1.5 * softplus(x)) over all of ``x`` with a hand-written backward.

    Autograd through the element-wise ops would keep ~6 full-size intermediates ([N, A, C], 16 MB
    each for D0 at batch 4) and run ~25 passes over them; this keeps nothing but ``x`` and runs
    ~14 passes, recomputing sigmoid and softplus in backward. d/dx = s^1.5 * (1.5 * (1 - s) * softplus(x) + s).
    """

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        s = torch.sigmoid(x)
        return s.mul_(s.sqrt()).mul_(F.softplus(x)).sum()  # in place: no intermediate outlives this line

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(x)
        # 1.5 * (1 - s) as s * -1.5 + 1.5: rsub with a Python scalar first takes a slow path.
        derivative = torch.mul(s, -FOCAL_GAMMA).add_(FOCAL_GAMMA).mul_(F.softplus(x)).add_(s)
        return derivative.mul_(s.mul_(s.sqrt())).mul_(grad)


def focal_loss_sum(logits: Tensor, labels: Tensor) -> Tensor:
    """Sum of the sigmoid focal loss over all [N, A, C] logits for one-hot targets ``labels`` [N, A] (-1: none).

    Equal to ``focal_loss(logits, one_hot(labels)).sum()`` without building the one-hot targets:
    every term is first taken as a negative (target 0) in one pass over the logits, then the one
    term per positive anchor (its label's) is swapped for its positive value. The swap works on
    [N, A] gathered logits and a mask, not boolean indexing, so nothing waits for the device.
    """
    background = (1 - FOCAL_ALPHA) * _BackgroundFocalSum.apply(logits)
    positive = labels >= 0
    x = torch.gather(logits, 2, labels.clamp(min=0)[..., None]).squeeze(2)
    swap = FOCAL_ALPHA * _focal_term(-x) - (1 - FOCAL_ALPHA) * _focal_term(x)
    return background + torch.where(positive, swap, 0.0).sum()


class DetectionLoss(nn.Module):
    """EfficientDet loss: focal class loss + 50 x Huber box loss, both normalised by positives + 1.

    Always computed in float32 (autocast disabled inside): the sums over ~10^5-10^6 anchor-class
    terms lose too much precision in half types. ``targets`` holds one dict per image with
    ``boxes`` [n, 4] (xyxy, input pixels) and ``labels`` [n] (0..C-1); n may be 0.
    """

    def __init__(self, anchors: Tensor, num_classes: int) -> None:
        super().__init__()
        self.register_buffer("anchors", anchors.float(), persistent=False)
        self.num_classes = num_classes

    def forward(self, class_outputs: Tensor, box_outputs: Tensor,
                targets: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        n, a, c = class_outputs.shape
        expected = (len(self.anchors), self.num_classes)
        if (a, c) != expected or box_outputs.shape != (n, a, 4) or len(targets) != n:
            raise ValueError(f"outputs {tuple(class_outputs.shape)}/{tuple(box_outputs.shape)} and "
                             f"{len(targets)} targets do not fit {expected[0]} anchors x {expected[1]} classes")
        with torch.autocast(device_type=class_outputs.device.type, enabled=False):
            return self._loss(class_outputs.float(), box_outputs.float(), targets)

    def _loss(self, class_outputs: Tensor, box_outputs: Tensor,
              targets: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        gt_boxes, gt_labels = pad_targets(targets, class_outputs.device)
        matched, positive = match_anchors(self.anchors, gt_boxes, gt_labels)
        num_positives = positive.sum()
        normalizer = num_positives.float() + 1.0

        labels = torch.gather(gt_labels, 1, matched).masked_fill_(~positive, -1)
        class_loss = focal_loss_sum(class_outputs, labels) / normalizer

        matched_boxes = torch.gather(gt_boxes, 1, matched[..., None].expand(-1, -1, 4))
        box_targets = encode_boxes(matched_boxes, self.anchors)
        # where() rather than a product: non-positive targets may be inf/nan (padding boxes).
        diff = torch.where(positive[..., None], box_outputs - box_targets, 0.0)
        box_loss = F.huber_loss(diff, torch.zeros_like(diff), delta=HUBER_DELTA, reduction="sum")
        box_loss = box_loss / (4 * normalizer)

        return {"loss": class_loss + BOX_LOSS_WEIGHT * box_loss, "class_loss": class_loss,
                "box_loss": box_loss, "num_positives": num_positives}
