"""The pieces of an EfficientDet run, built from the run: its datasets and loaders, the model
(from a checkpoint or weights), the optimizer and the train step. This module is the plugin's
:class:`~dnn_suite.training.builder.ModelBuilder`: the hook implementations (plugin.py) and
``dnn-suite train`` (the core's builder and loop) build through it.

``dnn-suite train efficientdet`` is the original benchmark's train_coco.sh, made resumable: SGD
(momentum 0.9, 0.08 per 64 images, weight decay 4e-5 not on BN or biases, optim.py), linear
warmup then cosine decay over the whole run, gradient-norm clipping 10, an EMA of the weights,
periodic evaluation and checkpoints. On several processes ``--batch-size`` is per process, the
learning rate follows the global batch and the loss is the global batch's (step.py).
"""

from __future__ import annotations

import sys

import torch

from dnn_suite.context import RunContext
from dnn_suite.distributed import unwrap
from dnn_suite.errors import UsageError
from dnn_suite.precision import memory_format
from dnn_suite_detection.data import DetectionDataset, collate
from dnn_suite_detection.runs import class_order_setting, run_dataset, run_loader

from dnn_suite.training.builder import TrainingData
from .checkpoint import CHECKPOINTS
from .model import VARIANTS, build_efficientdet
from .optim import build_sgd, recipe_lr
from .step import TrainStep
from .weights import check_layout, load_weights

#: the plugin's key in ``run.state``
OWNER = "efficientdet"


def image_size(run: RunContext) -> int:
    return run.options["image_size"] or VARIANTS[run.config.variant].image_size


def dataset(run: RunContext, split: str) -> DetectionDataset:
    """The dataset of ``split``, built once per run, in EfficientDet's square letterboxed inputs."""
    return run_dataset(run, split, owner=OWNER, image_size=image_size(run), letterbox=True)


def build_loader(run: RunContext, split: str) -> torch.utils.data.DataLoader:
    return run_loader(run, dataset(run, split), split)


def training_data(run: RunContext) -> TrainingData:
    data = dataset(run, "train")
    return TrainingData(data, collate, list(data.class_names))


def train_step(run: RunContext, model: torch.nn.Module) -> TrainStep:
    state = run.state.setdefault(OWNER, {})
    if "step" not in state:
        options = run.options
        state["step"] = TrainStep(unwrap(model), run.device, image_size=image_size(run), amp=options["amp"],
                                  amp_dtype=options["amp_dtype"],
                                  channels_last=options["channels_last"], clip_grad_norm=options["clip_grad_norm"],
                                  world_size=run.world_size)
    return state["step"]


def build_model(run: RunContext) -> torch.nn.Module:
    """The run's EfficientDet for its dataset's classes, from --checkpoint or --weights if given, on its device."""
    split = "eval" if run.task.get("command") == "eval" else "train"
    class_names = dataset(run, split).class_names
    model = build_efficientdet(run.config.variant, len(class_names), image_size=image_size(run),
                               backbone_weights=run.options["backbone_weights"], tf_layout=run.options["tf_layout"])
    checkpoint, weights = run.task.get("checkpoint"), run.options["weights"]
    if checkpoint and weights:
        raise UsageError("give either --checkpoint or --weights, not both")
    if checkpoint:
        state = CHECKPOINTS.read(checkpoint)
        check_layout(checkpoint, bool(state.get("tf_layout")), model)
        CHECKPOINTS.check_classes(checkpoint, state, class_names, run.config.dataset, class_order_setting(run))
        CHECKPOINTS.load_model(model, state, checkpoint)
    elif weights and not run.task.get("resume"):  # a resumed run continues from its own checkpoint
        report = load_weights(model, weights, class_names, allow_new_classes=split == "train")
        if run.rank == 0:
            print(f"dnn-suite: {report.summary()}", file=sys.stderr)
    model = model.to(run.device, memory_format=memory_format(run.options["channels_last"]))
    return model.train()


def build_optimizer(run: RunContext, model: torch.nn.Module) -> torch.optim.Optimizer:
    options = run.options
    global_batch = run.config.batch_size * run.world_size  # the recipe's learning rate follows all ranks' images
    return build_sgd(model, lr=options["lr"] or recipe_lr(global_batch),
                     momentum=options["momentum"], weight_decay=options["weight_decay"],
                     fused=run.device.type == "cuda")
