"""torchvision's object detectors (Faster R-CNN, RetinaNet, FCOS, SSD, SSDlite) on the detection
datasets EfficientDet trains on, scored by the same VOC/COCO evaluators.

The data comes from dnn_suite_detection, left for the model to resize (``letterbox=False``:
GeneralizedRCNNTransform resizes and normalises inside the model). In train mode a detector
returns its loss terms; the step sums them. In eval mode it returns boxes in the input images'
pixels, which are the original ones. Dataset labels are mapped to each model's convention and
back (detection_models.py). Channels-last is not offered: the model batches the images itself.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from dnn_suite.context import InferenceOutput, RunContext, StepOutput
from dnn_suite.distributed import unwrap
from dnn_suite.errors import UsageError
from dnn_suite.phases import phase
from dnn_suite.options import Option
from dnn_suite.registry import ModelSpec
from dnn_suite.training.builder import TrainingData
from dnn_suite.value_types import Number
from dnn_suite_detection.data import DATASET_NAMES
from dnn_suite_detection.data.loader import collate_list
from dnn_suite_detection.data.sources import SCHEMES
from dnn_suite_detection.options import DETECTION_OPTIONS
from dnn_suite_detection.evaluate import evaluate_detections
from dnn_suite_detection.runs import class_order_setting, run_dataset, run_loader, split_dataset

from . import checkpoint, common
from .detection_models import DETECTORS, FAMILIES, build_detector

OWNER = "torchvision-detection"
DATASETS = ("synthetic", "synthetic-coco", *(d for d in DATASET_NAMES if not d.startswith("synthetic")))
#: SGD's learning rate per image when option ``lr`` is 0: torchvision's detection reference (0.02 for 16 images)
SGD_LR_PER_IMAGE = 0.02 / 16
OPTIONS = (
    *DETECTION_OPTIONS,
    *(option for option in common.OPTIONS if option.name not in ("channels_last", "lr")),
    Option("lr", 0.0, "learning rate (0: SGD 0.02 per 16 images as torchvision's detection reference, scaled with "
           "the batch size; AdamW 1e-3)", Number(minimum=0), flag=True),
)


def names() -> set[str]:
    return set(DETECTORS)


def model_specs() -> list[ModelSpec]:
    specs = []
    for name, detector in DETECTORS.items():
        size_help = ("input size: SSD300 takes 300 only" if not detector.resizable else
                     "input size in pixels: the longer side" + (", of a square" if detector.family == "ssd" else ""))
        specs.append(ModelSpec(
            name=name, description=f"{FAMILIES[detector.family]} object detectors (torchvision)",
            family=detector.family, variants=("default",), default_variant="default", datasets=DATASETS,
            default_dataset="synthetic", dataset_schemes=SCHEMES, default_batch_size=2,
            options=(Option("image_size", detector.size, size_help, flag=True, trained=True), *OPTIONS),
        ))
    return specs


def check_config(run: RunContext) -> None:
    name, options = run.config.model, run.options
    detector = DETECTORS[name]
    if not detector.resizable and options["image_size"] != detector.size:
        raise UsageError(f"{name} takes {detector.size} px inputs only (its default boxes are laid out for that "
                         f"size), not {options['image_size']}; leave out --image-size")
    if options["image_size"] < 32:
        raise UsageError(f"{name}: image size {options['image_size']} is too small; expected 32 or more")
    if options["weights"]:
        common.weights_file(options["weights"], name)
    checkpoint.check_checkpoint(run)


def dataset(run: RunContext, split: str):
    return run_dataset(run, split, owner=OWNER, image_size=run.options["image_size"], letterbox=False)


def build_model(run: RunContext) -> nn.Module:
    """The detector for the dataset's classes (plus the background where the model has one), with option
    ``weights`` or ``--checkpoint`` loaded."""
    name = run.config.model
    split = "eval" if run.task.get("command") == "eval" else "train"
    classes = list(dataset(run, split).class_names)
    model = build_detector(name, len(classes), run.options["image_size"])
    if run.options["weights"] and not run.task.get("resume"):  # a resumed run continues from its checkpoint
        common.report(common.load_weights(model, run.options["weights"], name))
    checkpoint.load_trained(run, model, classes, class_order_setting(run))
    return model.to(run.device).train()


def image_size(run: RunContext) -> int:
    return run.options["image_size"]


def training_data(run: RunContext) -> TrainingData:
    data = dataset(run, "train")
    return TrainingData(data, collate_list, list(data.class_names))


def build_loader(run: RunContext, split: str) -> torch.utils.data.DataLoader:
    return run_loader(run, dataset(run, split), split, stack=False)


def build_optimizer(run: RunContext, model: nn.Module) -> torch.optim.Optimizer:
    return common.build_optimizer(run, model, sgd_lr_per_image=SGD_LR_PER_IMAGE)


def to_model_targets(targets: list[dict[str, Any]], offset: int, device: torch.device) -> list[dict[str, torch.Tensor]]:
    """Boxes (xyxy pixels) and labels in the model's convention (dataset label + ``offset``) on ``device``."""
    return [{"boxes": t["boxes"].to(device, non_blocking=True),
             "labels": (t["labels"] + offset).to(device, non_blocking=True)} for t in targets]


def to_dataset_labels(detections: list[dict[str, torch.Tensor]], offset: int) -> list[dict[str, torch.Tensor]]:
    """The model's detections with the dataset's labels (model label - ``offset``), on the CPU."""
    return [{"boxes": d["boxes"].float().cpu(), "scores": d["scores"].float().cpu(),
             "labels": d["labels"].cpu() - offset} for d in detections]


class DetectionStep:
    """One training iteration of a detector: in training mode it computes its loss terms; the step sums them."""

    def __init__(self, run: RunContext) -> None:
        self.device = run.device
        self.label_offset = DETECTORS[run.config.model].label_offset
        self.precision = common.precision(run)

    def __call__(self, model: nn.Module, batch: Any, optimizer: torch.optim.Optimizer) -> StepOutput:
        images, targets = batch
        with phase("to_device"):
            images = [image.to(self.device, non_blocking=True) for image in images]
            targets = to_model_targets(targets, self.label_offset, self.device)
        with phase("forward"), self.precision.autocast():
            losses = model(images, targets)
        with phase("loss"):
            loss = sum(value.float() for value in losses.values())
        self.precision.backward_and_step(loss, optimizer)  # phases backward and optimizer
        return StepOutput(loss=loss.detach(), samples=len(images),
                          components={k: v.detach() for k, v in losses.items()})


def train_step(run: RunContext, model: nn.Module) -> DetectionStep:
    return DetectionStep(run)


def inference_step(run: RunContext, model: nn.Module, batch: Any) -> InferenceOutput:
    """One batch's detections: the model in eval mode resizes, predicts and post-processes (box decoding,
    NMS, the detections kept) in its forward."""
    images, _ = batch
    with phase("to_device"):
        images = [image.to(run.device, non_blocking=True) for image in images]
    with phase("forward"), common.precision(run).autocast():
        model(images)
    return InferenceOutput(samples=len(images))


@torch.no_grad()
def predict(run: RunContext, model: nn.Module, loader: Any) -> list[dict[str, torch.Tensor]]:
    """Detections per image, in dataset order, boxes in original-image pixels, the dataset's labels."""
    detections: list[dict[str, torch.Tensor]] = []
    offset = DETECTORS[run.config.model].label_offset
    was_training = model.training
    model.eval()
    try:
        with common.precision(run).autocast():
            for images, _ in loader:
                detections += to_dataset_labels(model([image.to(run.device) for image in images]), offset)
    finally:
        model.train(was_training)
    return detections


def evaluate(run: RunContext, model: nn.Module) -> dict[str, Any]:
    """VOC AP (per class + mean) or the 12 COCO numbers on the eval split, as EfficientDet records them."""
    start = time.perf_counter()
    detections = predict(run, unwrap(model), build_loader(run, "eval"))
    predict_time = time.perf_counter() - start
    result: dict[str, Any] = {"images": len(detections), "predict_images_per_s": len(detections) / predict_time}
    result.update(evaluate_detections(detections, dataset(run, "eval"), voc07_metric=run.options["voc07_metric"],
                                      coco_evaluator=run.options["coco_evaluator"]))
    result["eval_time_s"] = time.perf_counter() - start
    result["dataset"] = split_dataset(run, "eval")
    return result
