"""The EfficientDet plugin's hook implementations: what the core calls."""

from __future__ import annotations

import math
from typing import Any

import torch

from dnn_suite.context import InferenceOutput, RunContext
from dnn_suite.distributed import unwrap
from dnn_suite.errors import UsageError
from dnn_suite.hookspecs import hookimpl
from dnn_suite.options import Option
from dnn_suite.precision import AMP_DTYPES
from dnn_suite.registry import ModelSpec
from dnn_suite.training.builder import train
from dnn_suite.value_types import Integer, Nullable, Number, Text
from dnn_suite_detection.data.sources import SCHEMES
from dnn_suite_detection.options import DETECTION_OPTIONS
from dnn_suite_detection.runs import split_dataset

from . import build
from .build import OWNER, build_loader, build_model, build_optimizer, dataset, image_size, train_step
from .checkpoint import CHECKPOINTS
from .evaluation import evaluate_model, predict_batch
from .model import VARIANTS

# User-facing dataset names; "synthetic" and "synthetic-coco" pick their train or val split.
DATASETS = ("synthetic", "synthetic-coco", "voc2007-trainval", "voc2007-test", "voc2012-trainval", "voc07+12",
            "coco2017-train", "coco2017-val")

OPTIONS = (
    Option("image_size", 0, "input size in pixels (0: the variant's, 512 for D0)",
           Integer(minimum=0, expected="an image size in pixels, or 0 for the variant's"), flag=True, trained=True),
    Option("amp", False, "mixed precision: bf16 autocast on CPU, fp16 + GradScaler on CUDA (see amp_dtype)",
           flag=True, trained=True),
    Option("amp_dtype", "auto", "autocast dtype of --amp: auto (float16 + GradScaler on CUDA, bfloat16 on CPU), "
           "float16, or bfloat16 (no GradScaler: bf16 has fp32's exponent range)", Text(choices=AMP_DTYPES), flag=True,
           trained=True),
    Option("channels_last", True, "channels-last memory format for images and weights (faster on a CPU, whose "
           "depthwise convolutions prefer it)", flag=True, trained=True),
    Option("clip_grad_norm", 10.0, "gradient-norm clipping (0 disables)"),
    Option("lr", 0.0, "learning rate (0: SGD 0.08 per 64 images, the recipe's, scaled with the batch size of all "
           "processes)", Number(minimum=0)),
    Option("momentum", 0.9, "SGD momentum"),
    Option("weight_decay", 4e-5, "weight decay on conv/linear weights (not BN or biases)"),
    Option("backbone_weights", None, "torchvision EfficientNet weights file, or 'imagenet' from the torch hub cache",
           Nullable(Text()), flag=True),
    Option("tf_layout", False, "TF EfficientDet's 'same' padding and conv biases, for effdet's tf_efficientdet_* "
           "weights", trained=True),
    Option("weights", None, "start from these weights: a dnn-suite checkpoint or an effdet EfficientDet state dict "
           "(.pth)", Nullable(Text()), flag=True),
    Option("scale_min", 0.1, "training scale jitter, lower bound"),
    Option("scale_max", 2.0, "training scale jitter, upper bound"),
    Option("score_threshold", 0.05, "minimum detection score kept by post-processing", flag=True),
    Option("nms_iou", 0.5, "per-class NMS IoU threshold"),
    Option("max_detections", 100, "detections kept per image"),
    *DETECTION_OPTIONS,
    Option("ema_decay", 0.9998, "EMA of weights during `dnn-suite train` (0 disables)"),
    Option("warmup_epochs", 1.0, "learning-rate warmup length in epochs (`train`)"),
)


@hookimpl
def dnn_suite_register_models(register):
    register(ModelSpec(
        name=OWNER,
        description="EfficientDet object detector (Tan, Pang, Le, CVPR 2020), D0-D7",
        variants=tuple(VARIANTS),
        default_variant="d0",
        datasets=DATASETS,
        default_dataset="synthetic",
        dataset_schemes=SCHEMES,
        default_batch_size=4,
        options=OPTIONS,
    ))


# ----------------------------------------------------------------------------- model hooks


@hookimpl
def dnn_suite_check_config(run: RunContext) -> None:
    """Training BatchNorm needs two values per channel; the smallest level, P7, is
    ceil(size / 128) pixels square, so batch size 1 cannot train at 128 px or less."""
    if run.task.get("command") == "eval" or run.config.scenario == "inference":  # BatchNorm's running statistics
        return
    variant = VARIANTS[run.config.variant]
    size, stride = image_size(run), 2**variant.max_level
    side = math.ceil(size / stride)
    if run.config.batch_size * side * side < 2:
        raise UsageError(
            f"efficientdet {variant.name} at image size {size} with batch size {run.config.batch_size}: its smallest "
            f"feature map (P{variant.max_level}) is {side}x{side}, so BatchNorm would get one value per channel and "
            f"cannot train; use a batch size of 2 or more, or an image size above {stride} (e.g. --image-size "
            f"{2 * stride})")


@hookimpl
def dnn_suite_build_model(run: RunContext) -> torch.nn.Module:
    return build_model(run)


@hookimpl
def dnn_suite_build_dataloader(run: RunContext, split: str):
    return build_loader(run, split)


@hookimpl
def dnn_suite_build_optimizer(run: RunContext, model: torch.nn.Module) -> torch.optim.Optimizer:
    return build_optimizer(run, model)


@hookimpl
def dnn_suite_train_step(run: RunContext, model: torch.nn.Module, batch: Any, optimizer: torch.optim.Optimizer):
    return train_step(run, model)(model, batch, optimizer)


@hookimpl
def dnn_suite_inference_step(run: RunContext, model: torch.nn.Module, batch: Any) -> InferenceOutput:
    """Forward and post-processing (top candidates, box decoding, per-class NMS) of one eval batch."""
    state = run.state.setdefault(OWNER, {})
    if "anchors" not in state:
        state["anchors"] = unwrap(model).anchors(image_size(run))
    return InferenceOutput(samples=len(predict_batch(run, model, batch, state["anchors"])))


@hookimpl
def dnn_suite_evaluate(run: RunContext, model: torch.nn.Module) -> dict[str, Any]:
    """VOC AP (per class + mean) or the 12 COCO numbers on the eval split."""
    result = evaluate_model(run, model, dataset(run, "eval"), build_loader(run, "eval"), image_size(run))
    result["dataset"] = split_dataset(run, "eval")
    return result


@hookimpl
def dnn_suite_train(run: RunContext) -> dict[str, Any]:
    """`dnn-suite train`: epochs or steps, warmup + cosine, EMA, checkpoints, exact resume (dnn_suite.training)."""
    return train(run, build, CHECKPOINTS)
