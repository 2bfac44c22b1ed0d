"""COCO bbox AP: the 12 standard numbers of pycocotools' COCOeval, computed vectorised in numpy.

COCOeval matches detections in Python, one (image, category, area range) at a time and one
detection at a time within it, and builds a Python dict per detection in ``loadRes``: 5,000
images x 100 detections take it about a minute. This module reproduces its definition exactly,
with arrays:

* per (image, category): detections sorted by descending score (stable), the first 100 kept;
  ground truth in annotation order; crowd boxes are ignored, and so are boxes outside the area
  range; IoU as pycocotools computes it (from x, y, w, h; a crowd box's union is the detection);
* greedy matching for every IoU threshold and area range at once, detection rank by detection
  rank over all (image, category) groups together: a detection takes the unclaimed ground truth
  of highest IoU >= threshold among the non-ignored boxes (the last one on ties), else among
  the ignored ones (crowds can be claimed again); a detection matched to an ignored box, or
  unmatched and outside the area range, is ignored;
* per (category, area range, max detections): detections of all images by descending score
  (stable, images in id order), cumulative true/false positives, precision envelope, precision
  at the 101 recall thresholds, recall; then COCOeval's averages over the entries that exist.

Tests compare all 12 numbers with COCOeval run directly, on random data with crowds, ties,
every area range and more than 100 detections per image.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from pycocotools.coco import COCO

# The order of COCOeval.stats after summarize().
COCO_METRIC_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")

# pycocotools' Params(iouType="bbox"), built the same way so that the arrays are identical.
IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
RECALL_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
MAX_DETECTIONS = (1, 10, 100)
AREA_RANGES = {"all": (0, 1e5**2), "small": (0, 32**2), "medium": (32**2, 96**2), "large": (96**2, 1e5**2)}


@dataclass(frozen=True)
class COCOResult:
    metrics: dict[str, float]  # COCO_METRIC_NAMES -> value; -1 where there is nothing to measure
    log: str  # the summary, in COCOeval's layout


def _numpy(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def _concat(detections: Sequence[Mapping[str, Any]], key: str, dtype: type, width: int) -> np.ndarray:
    values = [det[key] for det in detections]
    if values and all(isinstance(v, torch.Tensor) for v in values):  # one conversion, not one per image
        return torch.cat([v.detach().reshape(-1, width).cpu() for v in values]).numpy().astype(dtype)
    return np.concatenate([_numpy(v).astype(dtype).reshape(-1, width) for v in values] or [np.zeros((0, width))])


def detections_to_rows(
    detections: Sequence[Mapping[str, Any]], image_ids: Sequence[int], category_ids: Sequence[int]
) -> np.ndarray:
    """``[image_id, x, y, w, h, score, category_id]`` rows, the array form COCO.loadRes accepts."""
    if len(detections) != len(image_ids):
        raise ValueError(f"{len(detections)} detection entries for {len(image_ids)} image ids")
    counts = [len(det["labels"]) for det in detections]
    boxes = _concat(detections, "boxes", np.float64, 4)
    scores = _concat(detections, "scores", np.float64, 1)[:, 0]
    labels = _concat(detections, "labels", np.int64, 1)[:, 0]
    image = np.repeat(np.asarray(image_ids, dtype=np.float64), counts)
    category = np.asarray(category_ids)[labels]
    return np.column_stack([image, boxes[:, :2], boxes[:, 2:] - boxes[:, :2], scores, category])


def _bbox_iou(dt: np.ndarray, gt: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """IoU of ``dt[i]`` with ``gt[i]`` (x, y, w, h), operation for operation as pycocotools' bbIou."""
    w = np.minimum(dt[:, 2] + dt[:, 0], gt[:, 2] + gt[:, 0]) - np.maximum(dt[:, 0], gt[:, 0])
    h = np.minimum(dt[:, 3] + dt[:, 1], gt[:, 3] + gt[:, 1]) - np.maximum(dt[:, 1], gt[:, 1])
    inter = w * h
    dt_area, gt_area = dt[:, 2] * dt[:, 3], gt[:, 2] * gt[:, 3]
    union = np.where(crowd, dt_area, dt_area + gt_area - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((w > 0) & (h > 0), inter / union, 0.0)


def _outside(area: np.ndarray) -> np.ndarray:
    """[area ranges, n]: area outside each range (the bounds themselves are inside)."""
    return np.stack([(area < low) | (area > high) for low, high in AREA_RANGES.values()])


def _ground_truth(coco: COCO, image_index: dict[int, int], category_index: dict[int, int]) -> dict[str, np.ndarray]:
    """The evaluated annotations, in COCOeval's order: images by id, then annotation order."""
    anns = [ann for image_id in image_index for ann in coco.imgToAnns.get(image_id, [])
            if ann["category_id"] in category_index]
    return {
        "image": np.array([image_index[a["image_id"]] for a in anns], dtype=np.int64),
        "category": np.array([category_index[a["category_id"]] for a in anns], dtype=np.int64),
        "bbox": np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4),
        "area": np.array([a["area"] for a in anns], dtype=np.float64),
        "crowd": np.array([bool(a.get("iscrowd", 0)) for a in anns], dtype=bool),
        "id": np.array([a["id"] for a in anns], dtype=np.int64),
    }


def _index(values: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of each value in the sorted ``keys``, and whether it is there at all."""
    position = np.minimum(np.searchsorted(keys, values), max(len(keys) - 1, 0))
    found = keys[position] == values if len(keys) else np.zeros(len(values), dtype=bool)
    return position, found


def _detections(rows: np.ndarray, images: np.ndarray, categories: np.ndarray) -> dict[str, np.ndarray]:
    """The evaluated detections sorted by (image, category) group then descending score, at most
    100 per group, with their rank in the group."""
    image, image_found = _index(rows[:, 0].astype(np.int64), images)
    category, category_found = _index(rows[:, 6].astype(np.int64), categories)
    keep = image_found & category_found
    rows, image, category = rows[keep], image[keep], category[keep]
    group = image * len(categories) + category
    score = rows[:, 5]
    order = np.lexsort((-score, group))  # stable: ties keep the input order, as COCOeval's mergesort
    group = group[order]
    rank = np.arange(len(group)) - np.searchsorted(group, group, side="left")
    top = rank < MAX_DETECTIONS[-1]
    order, group, rank = order[top], group[top], rank[top]
    bbox = rows[order, 1:5]
    return {"image": image[order], "category": category[order], "group": group, "rank": rank, "bbox": bbox,
            "area": bbox[:, 2] * bbox[:, 3], "score": score[order]}


def _match(dt: dict[str, np.ndarray], gt: dict[str, np.ndarray], num_categories: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """Whether matched, and whether ignored, [detections, area ranges, IoU thresholds] each.

    "Matched" is COCOeval's: matched to a box whose annotation id is not 0 (it stores the id and
    tests its truth), which is every match unless an annotation has the id 0.
    """
    num_dt, num_gt = len(dt["rank"]), len(gt["id"])
    areas, thresholds = len(AREA_RANGES), len(IOU_THRESHOLDS)
    matched = np.zeros((num_dt, areas, thresholds), dtype=bool)
    ignored = np.zeros((num_dt, areas, thresholds), dtype=bool)
    gt_ignored = _outside(gt["area"]) | gt["crowd"]  # [areas, gt]
    if num_dt and num_gt:
        gt_group = gt["image"] * num_categories + gt["category"]
        gt_order = np.argsort(gt_group, kind="stable")  # each group's boxes in annotation order
        gt_group = gt_group[gt_order]
        start = np.searchsorted(gt_group, dt["group"], side="left")
        count = np.searchsorted(gt_group, dt["group"], side="right") - start
        # every (detection, ground truth of its group) pair, detection by detection, gt in annotation order
        first_pair = np.cumsum(count) - count
        threshold_min = min(IOU_THRESHOLDS.min(), 1 - 1e-10)
        pair_dt = np.repeat(np.arange(num_dt), count)
        pair_gt = gt_order[start[pair_dt] + np.arange(len(pair_dt)) - first_pair[pair_dt]]
        pair_iou = _bbox_iou(dt["bbox"][pair_dt], gt["bbox"][pair_gt], gt["crowd"][pair_gt])
        reachable = pair_iou >= threshold_min  # below the lowest threshold a pair can never match
        pair_dt, pair_gt, pair_iou = pair_dt[reachable], pair_gt[reachable], pair_iou[reachable]
        # detections of the same rank never share a group, hence never compete for a box: match rank by rank
        by_rank = np.argsort(dt["rank"][pair_dt], kind="stable")
        pair_dt, pair_gt, pair_iou = pair_dt[by_rank], pair_gt[by_rank], pair_iou[by_rank]
        rank_bounds = np.searchsorted(dt["rank"][pair_dt], np.arange(MAX_DETECTIONS[-1] + 1))
        threshold = np.minimum(IOU_THRESHOLDS, 1 - 1e-10)[None, :, None]
        claimed = np.zeros((areas, thresholds, num_gt), dtype=bool)
        crowd = gt["crowd"]
        for r in range(MAX_DETECTIONS[-1]):
            lo, hi = rank_bounds[r], rank_bounds[r + 1]
            if lo == hi:
                continue
            dts, gts, ious = pair_dt[lo:hi], pair_gt[lo:hi], pair_iou[lo:hi]
            segments = np.flatnonzero(np.r_[True, dts[1:] != dts[:-1]])  # one per detection
            usable = (~claimed[:, :, gts] | crowd[gts]) & (ious >= threshold)  # [areas, thresholds, pairs]
            ignore = gt_ignored[:, None, gts]
            position = np.arange(len(gts))
            choice = np.full((areas, thresholds, len(segments)), -1, dtype=np.int64)
            for candidates in (usable & ~ignore, usable & ignore):  # non-ignored boxes first
                value = np.where(candidates, ious, -1.0)
                best = np.maximum.reduceat(value, segments, axis=2)
                per_pair = np.repeat(best, np.diff(np.r_[segments, len(gts)]), axis=2)
                last = np.maximum.reduceat(np.where(candidates & (value == per_pair), position, -1), segments, axis=2)
                choice = np.where(choice >= 0, choice, last)
            a, t, s = np.nonzero(choice >= 0)
            pair = choice[a, t, s]
            detection, box = dts[segments[s]], gts[pair]
            claimed[a, t, box] = True
            matched[detection, a, t] = gt["id"][box] != 0
            ignored[detection, a, t] = gt_ignored[a, box]
    ignored |= ~matched & _outside(dt["area"]).T[:, :, None]
    return matched, ignored


def _accumulate(dt: dict[str, np.ndarray], gt: dict[str, np.ndarray], matched: np.ndarray, ignored: np.ndarray,
                num_categories: int) -> tuple[np.ndarray, np.ndarray]:
    """COCOeval.accumulate: precision [T, R, K, A, M] and recall [T, K, A, M], -1 where undefined.

    Precision is filled for 100 detections per image only, which is all that the summary reads
    (recall, for every M, needs only the true positives).
    """
    areas, thresholds = len(AREA_RANGES), len(IOU_THRESHOLDS)
    shape = (thresholds, num_categories, areas, len(MAX_DETECTIONS))
    precision = -np.ones((thresholds, len(RECALL_THRESHOLDS), *shape[1:]))
    recall = -np.ones(shape)
    gt_kept = ~(_outside(gt["area"]) | gt["crowd"])  # [areas, gt]
    positives = np.stack([np.bincount(gt["category"][gt_kept[a]], minlength=num_categories) for a in range(areas)])
    # all images' detections of a category by descending score, ties in image then rank order
    order = np.lexsort((dt["rank"], dt["image"], -dt["score"], dt["category"]))
    bounds = np.searchsorted(dt["category"][order], np.arange(num_categories + 1))
    # [detections, areas * thresholds], rows in that order: each category's rows are one slice
    kept = ~ignored.reshape(len(ignored), areas * thresholds)
    hit = matched.reshape(len(matched), areas * thresholds)
    true_positive, false_positive = (hit & kept)[order], (~hit & kept)[order]
    rank = dt["rank"][order]
    last = len(MAX_DETECTIONS) - 1
    for k in range(num_categories):
        span = slice(bounds[k], bounds[k + 1])
        npig = positives[:, k]  # [areas]
        valid = npig > 0
        for m, max_det in enumerate(MAX_DETECTIONS[:-1]):
            found = true_positive[span][rank[span] < max_det].sum(axis=0).reshape(areas, thresholds)
            recall[:, k, valid, m] = (found[valid] / npig[valid, None]).T
        nd = bounds[k + 1] - bounds[k]
        if not nd:
            recall[:, k, valid, last] = 0
            precision[:, :, k, valid, last] = 0
            continue
        # as COCOeval's cumsum().astype(float), per area range: [detections, thresholds]
        tp = np.cumsum(true_positive[span], axis=0, dtype=float).reshape(nd, areas, thresholds)
        fp = np.cumsum(false_positive[span], axis=0, dtype=float).reshape(nd, areas, thresholds)
        for a in np.flatnonzero(valid):
            rc = (tp[:, a] / npig[a]).T  # [thresholds, detections]
            pr = (tp[:, a] / (fp[:, a] + tp[:, a] + np.spacing(1))).T
            recall[:, k, a, last] = rc[:, -1]
            for t in range(thresholds):
                # COCOeval's precision envelope (best precision at this or any later rank) read at
                # the first rank reaching each recall threshold: the suffix maxima of pr at those
                # ranks, from the maxima of the spans between them (pr is not rewritten in full).
                at = np.searchsorted(rc[t], RECALL_THRESHOLDS, side="left")
                reached = at[at < nd]
                if len(reached):
                    starts = np.unique(reached)
                    suffix = np.maximum.accumulate(np.maximum.reduceat(pr[t], starts)[::-1])[::-1]
                    precision[t, :len(reached), k, a, last] = suffix[np.searchsorted(starts, reached)]
                precision[t, len(reached):, k, a, last] = 0
    return precision, recall


def _summarize(precision: np.ndarray, recall: np.ndarray) -> tuple[dict[str, float], str]:
    """COCOeval.summarize: the 12 numbers and its summary lines."""
    area_names = list(AREA_RANGES)

    def mean(ap: bool, iou: float | None, area: str, max_det: int) -> float:
        a, m = area_names.index(area), MAX_DETECTIONS.index(max_det)
        s = precision[..., a, m] if ap else recall[..., a, m]
        if iou is not None:
            s = s[np.where(iou == IOU_THRESHOLDS)[0]]
        return -1.0 if len(s[s > -1]) == 0 else float(np.mean(s[s > -1]))

    specs = [(True, None, "all", 100), (True, 0.5, "all", 100), (True, 0.75, "all", 100),
             (True, None, "small", 100), (True, None, "medium", 100), (True, None, "large", 100),
             (False, None, "all", 1), (False, None, "all", 10), (False, None, "all", 100),
             (False, None, "small", 100), (False, None, "medium", 100), (False, None, "large", 100)]
    values, lines = [], []
    for ap, iou, area, max_det in specs:
        value = mean(ap, iou, area, max_det)
        values.append(value)
        title = "Average Precision  (AP)" if ap else "Average Recall     (AR)"
        ious = f"{IOU_THRESHOLDS[0]:0.2f}:{IOU_THRESHOLDS[-1]:0.2f}" if iou is None else f"{iou:0.2f}"
        lines.append(f" {title} @[ IoU={ious:<9} | area={area:>6s} | maxDets={max_det:>3d} ] = {value:0.3f}")
    return dict(zip(COCO_METRIC_NAMES, values)), "\n".join(lines) + "\n"


def evaluate_coco(
    detections: Sequence[Mapping[str, Any]],
    image_ids: Sequence[int],
    ground_truth: COCO,
    category_ids: Sequence[int],
) -> COCOResult:
    """COCO AP of per-image ``{boxes, scores, labels}`` for the images ``image_ids``.

    Boxes are xyxy in original-image pixels, labels contiguous (``category_ids[label]`` is the
    COCO category id). Only the listed images and the ground truth's categories are evaluated.
    """
    rows = detections_to_rows(detections, image_ids, category_ids)
    images = np.unique(np.asarray(image_ids, dtype=np.int64))
    categories = np.unique(np.asarray(ground_truth.getCatIds(), dtype=np.int64))
    image_index = {int(image_id): i for i, image_id in enumerate(images)}
    category_index = {int(category_id): k for k, category_id in enumerate(categories)}
    gt = _ground_truth(ground_truth, image_index, category_index)
    dt = _detections(rows, images, categories)
    matched, ignored = _match(dt, gt, len(categories))
    precision, recall = _accumulate(dt, gt, matched, ignored, len(categories))
    metrics, log = _summarize(precision, recall)
    return COCOResult(metrics, log)


def format_coco(result: COCOResult) -> str:
    """One ``name: value`` line per metric, in COCOeval's order."""
    return "\n".join(f"{name}: {value:.4f}" for name, value in result.metrics.items())
