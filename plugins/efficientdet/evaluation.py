"""Evaluate a model on a dataset split: predict, post-process, then VOC or COCO AP.

The metric follows the dataset's format (:func:`dnn_suite_detection.evaluate.evaluate_detections`):
COCOeval's 12 numbers for COCO JSON (the engine is the ``coco_evaluator`` option: faster-coco-eval
or pycocotools), VOC AP at IoU 0.5 otherwise (all-point by default, 11-point with ``voc07_metric``).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import torch
from torch import nn

from dnn_suite.context import RunContext
from dnn_suite.phases import phase
from dnn_suite.precision import autocast_dtype, memory_format
from dnn_suite_detection.evaluate import evaluate_detections

from .model import postprocess


def predict_batch(run: RunContext, model: nn.Module, batch: Any, anchors: torch.Tensor) -> list[dict[str, torch.Tensor]]:
    """One batch of an eval loader's letterboxed images (and their targets' scales and original sizes)
    through the model and its post-processing: detections per image, on the device, boxes in
    original-image pixels. In the train step's precision and memory format."""
    options = run.options
    images, targets = batch
    images = images.to(run.device, non_blocking=True, memory_format=memory_format(options["channels_last"]))
    with phase("forward"), torch.autocast(run.device.type, dtype=autocast_dtype(options["amp_dtype"], run.device),
                                          enabled=options["amp"]):
        class_outputs, box_outputs = model(images)
    with phase("postprocess"):
        scales = torch.tensor([t["scale"] for t in targets], device=run.device)
        sizes = torch.tensor([list(t["orig_size"]) for t in targets], device=run.device)
        return postprocess(class_outputs, box_outputs, anchors, score_threshold=options["score_threshold"],
                           nms_iou=options["nms_iou"], max_detections=options["max_detections"],
                           image_scales=scales, original_sizes=sizes)


@torch.no_grad()
def predict(run: RunContext, model: nn.Module, loader: Any, anchors: torch.Tensor) -> list[dict[str, torch.Tensor]]:
    """Detections per image, in dataset order, boxes in original-image pixels."""
    detections: list[dict[str, torch.Tensor]] = []
    for batch in loader:
        detections.extend({k: v.cpu() for k, v in d.items()} for d in predict_batch(run, model, batch, anchors))
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
    result: dict[str, Any] = {"images": len(detections), "image_size": image_size,  # the size used (option 0: auto)
                              "predict_images_per_s": len(detections) / predict_time}
    result.update(evaluate_detections(detections, dataset, voc07_metric=run.options["voc07_metric"],
                                      coco_evaluator=run.options["coco_evaluator"]))
    result["eval_time_s"] = time.perf_counter() - start
    return result
