"""torchvision's image classifiers: every model of ``torchvision.models.list_models`` (resnet50,
vit_b_16, convnext_tiny, ...) as a benchmark of its own, grouped in ``dnn-suite list`` by the
torchvision module that defines it (its family).

Random initialisation unless option ``weights`` names a file or the hub cache; cross-entropy
loss (in fp32, also under ``--amp``); the optimizer, precision and memory format of common.py.
googlenet and inception_v3 are built without their auxiliary classifiers (one loss, any size).
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torchvision
from torch import nn
from torch.nn import functional as F
from torch.utils.data import default_collate

from dnn_suite.context import InferenceOutput, RunContext, StepOutput
from dnn_suite.errors import UsageError
from dnn_suite.phases import phase
from dnn_suite.options import Option
from dnn_suite.registry import ModelSpec
from dnn_suite.training.builder import TrainingData
from dnn_suite.value_types import Integer

from . import checkpoint, common
from .classification_data import IMAGEFOLDER, SYNTHETIC, dataset, loader, split_dataset

VARIANT = "default"
# torchvision module -> family name in `dnn-suite list` (the others keep their module's name)
_FAMILY_OF_MODULE = {"vision_transformer": "vit", "swin_transformer": "swin", "mobilenetv2": "mobilenet",
                     "mobilenetv3": "mobilenet", "shufflenetv2": "shufflenet"}
_NO_AUX = {"aux_logits": False, "init_weights": True}
OPTIONS = (
    Option("num_classes", 10, "classes of the synthetic dataset (an ImageFolder's come from its folders)",
           Integer(minimum=2), flag=True, trained=True),
    Option("synthetic_train", 512, "images in the synthetic training split", Integer(minimum=1)),
    Option("synthetic_val", 128, "images in the synthetic validation split", Integer(minimum=1)),
    *common.OPTIONS,
)


@functools.cache
def names() -> frozenset[str]:
    return frozenset(torchvision.models.list_models(module=torchvision.models))


def family(name: str) -> str:
    module = torchvision.models.get_model_builder(name).__module__.rsplit(".", 1)[-1]
    return _FAMILY_OF_MODULE.get(module, module)


def default_image_size(name: str) -> int:
    """The crop size of the model's default torchvision weights (224 for most, 299 for inception_v3)."""
    return torchvision.models.get_model_weights(name).DEFAULT.transforms.keywords["crop_size"]


def model_specs() -> list[ModelSpec]:
    specs = []
    for name in sorted(names()):
        kind = family(name)
        specs.append(ModelSpec(
            name=name, description=f"{kind} image classifiers (torchvision)", family=kind,
            variants=(VARIANT,), default_variant=VARIANT, datasets=(SYNTHETIC,), default_dataset=SYNTHETIC,
            dataset_schemes=(IMAGEFOLDER,), default_batch_size=16,
            options=(Option("image_size", default_image_size(name), "input size in pixels", flag=True, trained=True),
                     *OPTIONS),
        ))
    return specs


def _size_rule(name: str, size: int) -> str | None:
    """Why ``name`` cannot take ``size`` px images (None: it can)."""
    kind = family(name)
    if kind == "vit":
        patch = int(name.rsplit("_", 1)[1])
        return None if size % patch == 0 else f"a multiple of its patch size {patch}"
    if kind == "maxvit":  # every stage's input must split into 7x7 windows: size / 32 divisible by 7
        return None if size % 224 == 0 else "a multiple of 224"
    if kind == "swin":
        return None if size >= 32 else "at least 32"
    smallest = max(torchvision.models.get_model_weights(name).DEFAULT.meta["min_size"])
    return None if size >= smallest else f"at least {smallest}"


def check_config(run: RunContext) -> None:
    name, options = run.config.model, run.options
    expected = _size_rule(name, options["image_size"])
    if expected:
        raise UsageError(f"{name}: image size {options['image_size']} does not fit; expected {expected} "
                         "(--image-size)")
    evaluating = run.task.get("command") == "eval"
    for split in ["eval"] if evaluating else ["train"] + (["eval"] if run.config.evaluate else []):
        if split_dataset(run, split).startswith(IMAGEFOLDER):  # read now: refused before a run directory exists
            dataset(run, split, options["image_size"])
    if options["weights"]:
        common.weights_file(options["weights"], name)
    checkpoint.check_checkpoint(run)


def _builder_options(name: str, size: int) -> dict[str, Any]:
    kind = family(name)
    if kind == "vit":
        return {"image_size": size}
    if kind == "maxvit":
        return {"input_size": (size, size)}
    return dict(_NO_AUX) if name in ("googlenet", "inception_v3") else {}


def build_model(run: RunContext) -> nn.Module:
    """The classifier for the dataset's classes, with option ``weights`` or ``--checkpoint`` loaded, on the
    run's device."""
    name, size = run.config.model, run.options["image_size"]
    split = "eval" if run.task.get("command") == "eval" else "train"
    classes = dataset(run, split, size).classes
    model = torchvision.models.get_model(name, weights=None, num_classes=len(classes), **_builder_options(name, size))
    if run.options["weights"] and not run.task.get("resume"):  # a resumed run continues from its checkpoint
        common.report(common.load_weights(model, run.options["weights"], name))
    checkpoint.load_trained(run, model, classes)
    return model.to(run.device, memory_format=common.memory_format(run)).train()


def image_size(run: RunContext) -> int:
    return run.options["image_size"]


def training_data(run: RunContext) -> TrainingData:
    data = dataset(run, "train", run.options["image_size"])
    return TrainingData(data, default_collate, list(data.classes))


def build_loader(run: RunContext, split: str) -> torch.utils.data.DataLoader:
    return loader(run, split, run.options["image_size"])


def build_optimizer(run: RunContext, model: nn.Module) -> torch.optim.Optimizer:
    return common.build_optimizer(run, model)


def _to_device(run: RunContext, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = batch
    return (images.to(run.device, non_blocking=True, memory_format=common.memory_format(run)),
            labels.to(run.device, non_blocking=True))


class ClassificationStep:
    """One training iteration of a classifier: cross-entropy loss, in fp32 also under ``--amp``."""

    def __init__(self, run: RunContext) -> None:
        self.run = run
        self.precision = common.precision(run)

    def __call__(self, model: nn.Module, batch: Any, optimizer: torch.optim.Optimizer) -> StepOutput:
        with phase("to_device"):
            images, labels = _to_device(self.run, batch)
        with phase("forward"), self.precision.autocast():
            logits = model(images)
        with phase("loss"):
            loss = F.cross_entropy(logits.float(), labels)
        self.precision.backward_and_step(loss, optimizer)  # phases backward and optimizer
        return StepOutput(loss=loss.detach(), samples=len(labels))


def train_step(run: RunContext, model: nn.Module) -> ClassificationStep:
    return ClassificationStep(run)


def inference_step(run: RunContext, model: nn.Module, batch: Any) -> InferenceOutput:
    """One batch's logits, in the train step's precision and memory format (its labels unused)."""
    with phase("to_device"):
        images, _ = _to_device(run, batch)
    with phase("forward"), common.precision(run).autocast():
        model(images)
    return InferenceOutput(samples=len(images))


def evaluate(run: RunContext, model: nn.Module) -> dict[str, Any]:
    """Top-1 and top-5 accuracy (top-k of k = the class count when there are fewer than 5 classes)."""
    data = loader(run, "eval", run.options["image_size"])
    classes = len(data.dataset.classes)
    k = min(5, classes)
    top1 = top5 = total = 0
    was_training = model.training
    model.eval()
    with torch.no_grad(), common.precision(run).autocast():
        for batch in data:
            images, labels = _to_device(run, batch)
            ranked = model(images).topk(k, dim=1).indices
            hits = ranked == labels.unsqueeze(1)
            top1 += int(hits[:, 0].sum())
            top5 += int(hits.any(dim=1).sum())
            total += len(labels)
    model.train(was_training)
    name = split_dataset(run, "eval")
    if total == 0:
        raise UsageError(f"evaluation dataset {name} has no image")
    summary = f"top-1 {top1 / total:.4f}, top-{k} {top5 / total:.4f} on {name} ({total} images, {classes} classes)"
    return {"top1": top1 / total, "top5": top5 / total, "top5_k": k, "images": total, "classes": classes,
            "dataset": name, "summary": summary}
