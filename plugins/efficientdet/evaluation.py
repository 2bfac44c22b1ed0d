"""Evaluate a model on a dataset split: predict, post-process, then VOC or COCO AP.

Datasets read from COCO JSON are scored with COCOeval (the 12 COCO numbers; the engine is the
``coco_evaluator`` option: faster-coco-eval or pycocotools); the others
with VOC AP at IoU 0.5 (all-point by default, 11-point with ``voc07_metric``), which is
what the original benchmark reports.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import torch
from torch import nn

from dnn_suite.context import RunContext

from dnn_suite_detection.data import COCODataset, load_coco_json
from dnn_suite_detection.evaluate import evaluate_coco, evaluate_voc, format_coco, format_voc
from .model import postprocess


@torch.no_grad()
def predict(run: RunContext, model: nn.Module, loader: Any, anchors: torch.Tensor) -> list[dict[str, torch.Tensor]]:
    """Detections per image, in dataset order, boxes in original-image pixels."""
    options = run.options
    amp_dtype = torch.float16 if run.device.type == "cuda" else torch.bfloat16
    detections: list[dict[str, torch.Tensor]] = []
    for images, targets in loader:
        images = images.to(run.device, non_blocking=True)
        with torch.autocast(run.device.type, dtype=amp_dtype, enabled=options["amp"]):
            class_outputs, box_outputs = model(images)
        scales = torch.tensor([t["scale"] for t in targets], device=run.device)
        sizes = torch.tensor([list(t["orig_size"]) for t in targets], device=run.device)
        batch = postprocess(class_outputs, box_outputs, anchors, score_threshold=options["score_threshold"],
                            nms_iou=options["nms_iou"], max_detections=options["max_detections"],
                            image_scales=scales, original_sizes=sizes)
        detections.extend({k: v.cpu() for k, v in d.items()} for d in batch)
    return detections


@contextlib.contextmanager
def _eval_mode(model: nn.Module):
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def evaluate_model(run: RunContext, model: nn.Module, dataset: Any, loader: Any, image_size: int) -> dict[str, Any]:
    """Metrics of ``model`` on ``dataset`` (iterated through ``loader``), with a printable summary."""
    unwrapped = getattr(model, "module", model)  # EMA wrappers keep the network in .module
    start = time.perf_counter()
    with _eval_mode(model):
        detections = predict(run, model, loader, unwrapped.anchors(image_size))
    predict_time = time.perf_counter() - start
    result: dict[str, Any] = {"images": len(detections), "predict_images_per_s": len(detections) / predict_time}
    if isinstance(dataset, COCODataset):
        coco = evaluate_coco(detections, dataset.image_ids, load_coco_json(dataset.annotation_file),
                             dataset.category_ids, evaluator=run.options["coco_evaluator"])
        result.update(metric="coco", **coco.metrics, mAP=coco.metrics["AP"], summary=format_coco(coco))
    else:
        ground_truths = [dataset.ground_truth(i) for i in range(len(dataset))]
        voc = evaluate_voc(detections, ground_truths, dataset.class_names, use_07_metric=run.options["voc07_metric"])
        result.update(metric="voc", mAP=voc.mean_ap, per_class_ap=voc.per_class_ap, summary=format_voc(voc))
    result["eval_time_s"] = time.perf_counter() - start
    return result
