"""COCO bbox AP, the 12 standard numbers, named: pycocotools' COCOeval algorithm.

Two engines compute it. ``faster-coco-eval`` (the default) is the same algorithm as
pycocotools' COCOeval with its evaluate/accumulate loops in C++: equal numbers (the tests compare
the two on generated data), about 5x faster on 5,000 images x 100 detections
(docs/PERFORMANCE.md). ``pycocotools`` runs the reference implementation itself. Both take the
ground truth as a pycocotools ``COCO``.

The evaluators print progress and a summary table; that text is captured into
``COCOResult.log`` rather than mixed into our output.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
from faster_coco_eval import COCOeval_faster
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

# The order of COCOeval.stats after summarize().
COCO_METRIC_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
# Engine name -> COCOeval class (faster-coco-eval's prints through print_function, captured below).
_ENGINES = {"faster-coco-eval": partial(COCOeval_faster, print_function=print), "pycocotools": COCOeval}
COCO_EVALUATORS = tuple(_ENGINES)


@dataclass(frozen=True)
class COCOResult:
    metrics: dict[str, float]  # COCO_METRIC_NAMES -> value; -1 where COCOeval has nothing to measure
    log: str  # what COCOeval printed


def _numpy(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def detections_to_rows(
    detections: Sequence[Mapping[str, Any]], image_ids: Sequence[int], category_ids: Sequence[int]
) -> np.ndarray:
    """``[image_id, x, y, w, h, score, category_id]`` rows, the array form COCO.loadRes accepts."""
    category_of = np.asarray(category_ids)
    rows = []
    for image_id, det in zip(image_ids, detections, strict=True):
        boxes = _numpy(det["boxes"]).astype(np.float64).reshape(-1, 4)
        image = np.full(len(boxes), image_id)
        category = category_of[_numpy(det["labels"]).astype(np.int64)]
        rows.append(np.column_stack([image, boxes[:, :2], boxes[:, 2:] - boxes[:, :2], _numpy(det["scores"]), category]))
    return np.concatenate(rows) if rows else np.zeros((0, 7))


def _results(ground_truth: COCO, rows: np.ndarray) -> COCO:
    """The detections as a ``COCO`` of results, holding what COCOeval reads of them and nothing else: the ids
    (1..N in row order), image, category, box, score and area (w * h) that ``ground_truth.loadRes(rows)`` would
    give each, without the per-detection Python work of loadRes that bbox evaluation never reads (a polygon per
    box): 2-3x faster on 100,000 detections, and the same numbers (the tests compare the two)."""
    images = rows[:, 0].astype(np.int64).tolist()
    unknown = set(images) - set(ground_truth.getImgIds())
    if unknown:
        raise ValueError(f"detections for image ids the ground truth does not have: {sorted(unknown)[:5]}")
    boxes = rows[:, 1:5]
    results = COCO()
    results.dataset = {"annotations": [
        {"id": index, "image_id": image, "bbox": box, "score": score, "category_id": category, "area": area}
        for index, image, box, score, category, area in zip(
            range(1, len(rows) + 1), images, boxes.tolist(), rows[:, 5].tolist(),
            rows[:, 6].astype(np.int64).tolist(), (boxes[:, 2] * boxes[:, 3]).tolist(), strict=True)
    ]}
    results.createIndex()
    return results


def evaluate_coco(
    detections: Sequence[Mapping[str, Any]],
    image_ids: Sequence[int],
    ground_truth: COCO,
    category_ids: Sequence[int],
    *,
    evaluator: str = "faster-coco-eval",
) -> COCOResult:
    """COCO AP of per-image ``{boxes, scores, labels}`` for the images ``image_ids``.

    Boxes are xyxy in original-image pixels, labels contiguous (``category_ids[label]`` is the
    COCO category id). Only the listed images are evaluated. ``evaluator`` is one of
    ``COCO_EVALUATORS``.
    """
    if evaluator not in COCO_EVALUATORS:
        raise ValueError(f"COCO evaluator {evaluator!r}: expected one of {', '.join(COCO_EVALUATORS)}")
    rows = detections_to_rows(detections, image_ids, category_ids)
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        results = _results(ground_truth, rows)
        coco_eval = _ENGINES[evaluator](ground_truth, results, iouType="bbox")
        coco_eval.params.imgIds = list(image_ids)
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    stats = coco_eval.stats[: len(COCO_METRIC_NAMES)]  # faster-coco-eval may append extra numbers
    return COCOResult(dict(zip(COCO_METRIC_NAMES, map(float, stats))), captured.getvalue())


def format_coco(result: COCOResult) -> str:
    """One ``name: value`` line per metric, in COCOeval's order."""
    return "\n".join(f"{name}: {value:.4f}" for name, value in result.metrics.items())
