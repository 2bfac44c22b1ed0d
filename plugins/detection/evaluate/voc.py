"""Pascal VOC detection AP: per class at one IoU threshold, difficult boxes ignored.

Interpolation: all-point (VOC2010 and later) by default, the VOC2007 11-point average with
``use_07_metric=True``. A detection matches when IoU > threshold (strictly, as in the devkit).

Pixel convention: boxes are continuous coordinates and IoU uses plain widths ``x2 - x1``.
``devkit_pixels=True`` adds 1 to widths and heights as the official devkit does, which is right
for boxes in inclusive integer pixel indices (raw VOC XML). The VOC reader of this package
already converts the XML to continuous coordinates, so the default is the devkit's number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .matching import IGNORED, TRUE_POSITIVE, match_detections


@dataclass(frozen=True)
class VOCResult:
    per_class_ap: dict[str, float]  # NaN for a class without non-difficult ground truth
    mean_ap: float  # over the classes that have ground truth
    iou_threshold: float = 0.5
    use_07_metric: bool = False
    devkit_pixels: bool = False


def _concat(items: Sequence[Mapping[str, Any]], key: str, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
    """``item[key]`` of every image, concatenated; a missing key counts as zeros (e.g. no difficult flags)."""
    arrays = []
    for item in items:
        value = item[key] if key in item else np.zeros(len(item["labels"]))
        value = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        arrays.append(value.astype(dtype).reshape(shape))
    return np.concatenate(arrays) if arrays else np.zeros((0, *shape[1:]), dtype)  # shape[0] is -1


def average_precision(true_positive: np.ndarray, num_positives: int, use_07_metric: bool = False) -> float:
    """AP of detections ranked by descending score, given which are true positives."""
    if len(true_positive) == 0:
        return 0.0
    tp = np.cumsum(true_positive)
    recall = tp / num_positives
    precision = tp / np.arange(1, len(tp) + 1)
    # Precision envelope: the best precision at this recall or any higher one.
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    if use_07_metric:
        # np.arange(0, 1.1, 0.1) exactly as the devkit, float rounding of 0.3, 0.6, 0.7 included.
        first = np.searchsorted(recall, np.arange(0.0, 1.1, 0.1), side="left")
        return float(np.where(first < len(recall), envelope[np.minimum(first, len(recall) - 1)], 0.0).mean())
    steps = np.diff(recall, prepend=0.0)  # recall only changes at true positives
    return float(np.sum(steps * envelope))


def evaluate_voc(
    detections: Sequence[Mapping[str, Any]],
    ground_truths: Sequence[Mapping[str, Any]],
    class_names: Sequence[str],
    *,
    iou_threshold: float = 0.5,
    use_07_metric: bool = False,
    devkit_pixels: bool = False,
) -> VOCResult:
    """VOC AP per class from per-image ``{boxes, scores, labels}`` and ``{boxes, labels, difficult}``.

    Both lists are indexed by image; boxes are xyxy in the same (original-image) coordinates and
    labels contiguous 0..C-1. ``difficult`` may be left out (nothing difficult).
    """
    if len(detections) != len(ground_truths):
        raise ValueError(f"{len(detections)} detection entries for {len(ground_truths)} images")
    num_classes = len(class_names)
    det_labels = _concat(detections, "labels", np.int64, (-1,))
    gt_labels = _concat(ground_truths, "labels", np.int64, (-1,))
    for what, labels in (("detection", det_labels), ("ground-truth", gt_labels)):
        if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"{what} labels must lie in 0..{num_classes - 1}")
    det_image = np.repeat(np.arange(len(detections)), [len(d["labels"]) for d in detections])
    gt_image = np.repeat(np.arange(len(ground_truths)), [len(g["labels"]) for g in ground_truths])
    gt_difficult = _concat(ground_truths, "difficult", bool, (-1,))
    scores = _concat(detections, "scores", np.float64, (-1,))
    order = np.lexsort((-scores, det_labels))  # by class, then by descending score (stable)
    det_labels = det_labels[order]
    status = match_detections(
        det_group=det_image[order] * num_classes + det_labels,
        det_boxes=_concat(detections, "boxes", np.float64, (-1, 4))[order],
        gt_group=gt_image * num_classes + gt_labels,
        gt_boxes=_concat(ground_truths, "boxes", np.float64, (-1, 4)),
        gt_difficult=gt_difficult,
        iou_threshold=iou_threshold,
        pixel_offset=1.0 if devkit_pixels else 0.0,
    )
    num_positives = np.bincount(gt_labels[~gt_difficult], minlength=num_classes)
    bounds = np.searchsorted(det_labels, np.arange(num_classes + 1))
    per_class = {}
    for c, name in enumerate(class_names):
        ranked = status[bounds[c] : bounds[c + 1]]
        ranked = ranked[ranked != IGNORED] == TRUE_POSITIVE
        has_gt = num_positives[c] > 0
        per_class[name] = average_precision(ranked, num_positives[c], use_07_metric) if has_gt else math.nan
    valid = [ap for ap in per_class.values() if not math.isnan(ap)]
    mean_ap = float(np.mean(valid)) if valid else math.nan
    return VOCResult(per_class, mean_ap, iou_threshold, use_07_metric, devkit_pixels)


def format_voc(result: VOCResult) -> str:
    """Per-class AP then their mean, in the layout of the original TBD EfficientDet benchmark.

    That layout ("mAP:", "<class>: <AP>" lines, "avg mAP: <mean>") is the evaluation output quoted
    in tbd-ai/tbd-suite ObjectDetection/EfficientDet/Pytorch/README.md; a last line states the
    convention the numbers use.
    """
    lines = ["mAP:"]
    for name, ap in result.per_class_ap.items():
        lines.append(f"{name}: n/a (no ground truth)" if math.isnan(ap) else f"{name}: {ap:.4f}")
    lines.append(f"avg mAP: {result.mean_ap:.4f}")
    method = "11-point (VOC2007)" if result.use_07_metric else "all-point"
    pixels = "devkit +1 pixel" if result.devkit_pixels else "no +1 pixel"
    lines.append(f"(VOC AP at IoU > {result.iou_threshold:g}, {method} interpolation, difficult ignored, {pixels})")
    return "\n".join(lines)
