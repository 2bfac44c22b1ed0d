"""Detections from raw head outputs: top-k candidates, decoding, per-class NMS, back to image pixels."""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import batched_nms, nms

from .boxes import decode_boxes


def grouped_nms(boxes: Tensor, scores: Tensor, groups: Tensor, iou_threshold: float) -> Tensor:
    """Indices kept by NMS within each group, by descending score: torchvision's ``batched_nms``.

    On a CPU, one ``nms`` call per group on that group's boxes only. ``batched_nms`` above 4000
    boxes scans all boxes once per group (``groups == g`` then nonzero), which is slower on a CPU
    (docs: performance, inference with post-processing); below 4000 it runs one NMS over all
    boxes shifted apart per group, which compares every kept box with every other group's boxes.
    On other devices ``batched_nms`` itself (one kernel launch matters more there).
    """
    if boxes.device.type != "cpu" or len(boxes) == 0:
        return batched_nms(boxes, scores, groups, iou_threshold)
    order = torch.sort(groups, stable=True).indices  # each group's boxes in their given order, as batched_nms
    counts = torch.unique_consecutive(groups[order], return_counts=True)[1].tolist()
    kept = torch.cat([segment[nms(boxes[segment], scores[segment], iou_threshold)] for segment in order.split(counts)])
    kept = kept.sort().values  # then by index and by score exactly as batched_nms orders them (ties included)
    return kept[scores[kept].sort(descending=True)[1]]


@torch.no_grad()
def postprocess(class_outputs: Tensor, box_outputs: Tensor, anchors: Tensor, *,
                score_threshold: float = 0.05, candidates: int = 5000, nms_iou: float = 0.5,
                max_detections: int = 100, image_scales: Tensor | None = None,
                original_sizes: Tensor | None = None) -> list[dict[str, Tensor]]:
    """One dict per image with ``boxes`` [k, 4] (xyxy), ``scores`` [k] and ``labels`` [k], best first.

    ``class_outputs`` [N, A, C] logits and ``box_outputs`` [N, A, 4] codes are the model's outputs,
    ``anchors`` [A, 4] their anchors. Images are assumed resized by ``image_scales`` [N] and padded
    at the bottom/right, so boxes are divided by the scale and clipped to ``original_sizes`` [N, 2]
    (height, width); without these they stay in input pixels, unclipped.
    """
    n, a, c = class_outputs.shape
    scores = torch.sigmoid(class_outputs.float()).reshape(n, a * c)
    scores, index = scores.topk(min(candidates, a * c), dim=1)  # [N, K], sorted per image
    anchor_index, labels = index // c, index % c
    codes = torch.gather(box_outputs.float(), 1, anchor_index[..., None].expand(-1, -1, 4))
    boxes = decode_boxes(codes, anchors.float()[anchor_index])  # [N, K, 4]
    if image_scales is not None:
        boxes = boxes / image_scales.to(boxes)[:, None, None]
    if original_sizes is not None:
        h, w = original_sizes.to(boxes).unbind(1)
        upper = torch.stack([w, h, w, h], dim=1)[:, None, :]
        boxes = torch.minimum(boxes.clamp(min=0), upper)

    # One NMS call for the whole batch: groups are (image, class), so neither interferes.
    image = torch.arange(n, device=boxes.device)[:, None].expand_as(labels)
    keep = scores.reshape(-1) > score_threshold
    flat_boxes, flat_scores = boxes.reshape(-1, 4)[keep], scores.reshape(-1)[keep]
    flat_labels, flat_image = labels.reshape(-1)[keep], image.reshape(-1)[keep]
    kept = grouped_nms(flat_boxes, flat_scores, flat_image * c + flat_labels, nms_iou)  # by score, descending

    # Regroup by image (stable sort keeps score order) and keep each image's best max_detections.
    kept = kept[torch.sort(flat_image[kept], stable=True).indices]
    counts = torch.bincount(flat_image[kept], minlength=n)
    rank = torch.arange(len(kept), device=kept.device) - (counts.cumsum(0) - counts)[flat_image[kept]]
    kept = kept[rank < max_detections]
    sizes = counts.clamp(max=max_detections).tolist()
    return [{"boxes": b, "scores": s, "labels": lab}
            for b, s, lab in zip(flat_boxes[kept].split(sizes), flat_scores[kept].split(sizes),
                                 flat_labels[kept].split(sizes))]
