"""Score a model's detections on a detection dataset with the metric its format calls for.

Datasets read from COCO JSON get COCOeval's 12 numbers (``mAP`` is AP at IoU 0.50:0.95); the
others VOC AP at IoU 0.5 per class (``mAP`` their mean), which is what the original benchmark
reports. The keys are those run.json records under ``evaluation`` for every detection model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..data import COCODataset, DetectionDataset, load_coco_json
from .coco import evaluate_coco, format_coco
from .voc import evaluate_voc, format_voc


def evaluate_detections(detections: Sequence[Mapping[str, Any]], dataset: DetectionDataset, *,
                        voc07_metric: bool = False, coco_evaluator: str = "faster-coco-eval") -> dict[str, Any]:
    """Metrics of per-image ``{boxes, scores, labels}`` in dataset order: boxes xyxy in
    original-image pixels, labels the dataset's (0..C-1); with a printable ``summary``."""
    if isinstance(dataset, COCODataset):
        coco = evaluate_coco(detections, dataset.image_ids, load_coco_json(dataset.annotation_file),
                             dataset.category_ids, evaluator=coco_evaluator)
        return {"metric": "coco", **coco.metrics, "mAP": coco.metrics["AP"], "summary": format_coco(coco)}
    ground_truths = [dataset.ground_truth(i) for i in range(len(dataset))]
    voc = evaluate_voc(detections, ground_truths, dataset.class_names, use_07_metric=voc07_metric)
    return {"metric": "voc", "mAP": voc.mean_ap, "per_class_ap": voc.per_class_ap, "summary": format_voc(voc)}
