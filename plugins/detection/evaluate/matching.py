"""Greedy detection-to-ground-truth matching of the VOC devkit, vectorised over all images and classes.

The devkit walks a class's detections from the highest score down; each takes the ground-truth
box of its image and class with the largest IoU (the first one on ties, difficult boxes
included). Above the threshold it is ignored if that box is difficult, a true positive if the
box is still unclaimed (claiming it), else a false positive; at or below the threshold it is
a false positive. Matching never crosses images, so every detection's best box can be found
for all detections at once, and "still unclaimed" means "first detection, in score order, whose
best box it is".
"""

from __future__ import annotations

import numpy as np

FALSE_POSITIVE, TRUE_POSITIVE, IGNORED = 0, 1, 2


def pair_iou(a: np.ndarray, b: np.ndarray, pixel_offset: float) -> np.ndarray:
    """IoU of ``a[i]`` with ``b[i]`` (xyxy); ``pixel_offset=1`` is the devkit's inclusive-pixel "+1"."""
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]) + pixel_offset, 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]) + pixel_offset, 0, None)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0] + pixel_offset) * (a[:, 3] - a[:, 1] + pixel_offset)
    area_b = (b[:, 2] - b[:, 0] + pixel_offset) * (b[:, 3] - b[:, 1] + pixel_offset)
    return inter / np.maximum(area_a + area_b - inter, np.finfo(np.float64).eps)


def match_detections(
    det_group: np.ndarray,
    det_boxes: np.ndarray,
    gt_group: np.ndarray,
    gt_boxes: np.ndarray,
    gt_difficult: np.ndarray,
    iou_threshold: float,
    pixel_offset: float = 0.0,
) -> np.ndarray:
    """FALSE_POSITIVE / TRUE_POSITIVE / IGNORED for each detection.

    A group is one (image, class) pair. Detections must be sorted by descending score within
    each group; ground-truth boxes are taken in their given order within each group.
    """
    num_dets = len(det_group)
    order = np.argsort(gt_group, kind="stable")
    gt_group, gt_boxes, gt_difficult = gt_group[order], gt_boxes[order], gt_difficult[order]
    # Every (detection, ground truth of its group) pair, laid out detection by detection.
    start = np.searchsorted(gt_group, det_group, side="left")
    count = np.searchsorted(gt_group, det_group, side="right") - start
    first_pair = np.cumsum(count) - count
    pair_det = np.repeat(np.arange(num_dets), count)
    pair_gt = start[pair_det] + np.arange(len(pair_det)) - first_pair[pair_det]
    iou = pair_iou(det_boxes[pair_det], gt_boxes[pair_gt], pixel_offset)

    has_gt = count > 0
    segments = first_pair[has_gt]
    best_iou = np.zeros(num_dets)
    best_gt = np.zeros(num_dets, dtype=np.int64)
    if len(segments):
        best_iou[has_gt] = np.maximum.reduceat(iou, segments)
        reaches_best = np.where(iou == best_iou[pair_det], np.arange(len(iou)), len(iou))
        best_gt[has_gt] = pair_gt[np.minimum.reduceat(reaches_best, segments)]

    hit = has_gt & (best_iou > iou_threshold)
    ignored = np.zeros(num_dets, dtype=bool)
    ignored[hit] = gt_difficult[best_gt[hit]]
    claims = np.flatnonzero(hit & ~ignored)
    _, first_claim = np.unique(best_gt[claims], return_index=True)
    status = np.full(num_dets, FALSE_POSITIVE, dtype=np.int8)
    status[claims[first_claim]] = TRUE_POSITIVE
    status[ignored] = IGNORED
    return status
