"""The pieces of an EfficientDet run, built from the run: its datasets and loaders, the model
(from a checkpoint or weights), the optimizer and the train step. Both the hook
implementations (plugin.py) and the trainer (train.py) build through here."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from dnn_suite.context import RunContext
from dnn_suite.distributed import unwrap
from dnn_suite.errors import UsageError
from dnn_suite.training.checkpoint import load_model_state
from dnn_suite_detection.data import EVAL_DATASET, DetectionDataset, SyntheticConfig, build_dataset, build_loader, build_transforms
from dnn_suite_detection.data.sources import parse_source, read_source, split_source
from dnn_suite_detection.evaluate import COCO_EVALUATORS

from .checkpoint import load_checkpoint
from .model import VARIANTS, build_efficientdet
from .optim import build_sgd
from .step import AMP_DTYPES, TrainStep, memory_format
from .weights import check_layout, class_difference, load_weights, set_backbone_bn_eps

NAME = "efficientdet"
DEFAULT_REAL_ROOT = Path("/dataset")  # the original benchmark's layout


def image_size(run: RunContext) -> int:
    return run.options["image_size"] or VARIANTS[run.config.variant].image_size


def data_root(run: RunContext, dataset: str) -> Path:
    """``--data-root``, else the cache for the synthetic data and /dataset for real data."""
    if run.config.data_root:
        return Path(run.config.data_root)
    if dataset.startswith("synthetic"):
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        return cache / "dnn-suite"
    return DEFAULT_REAL_ROOT


def split_dataset(run: RunContext, split: str) -> str:
    """The concrete dataset for ``split``: ``--eval-dataset``, else the eval split of a training set
    (VOC -> VOC2007 test, COCO -> val2017, ``voc:DIR`` -> its test/val set), except that
    `dnn-suite eval` evaluates the dataset it is given."""
    name = run.config.dataset
    if split == "eval" and run.config.eval_dataset:
        return run.config.eval_dataset
    source = parse_source(name)
    if source is not None:
        resolved = split_source(source, "train" if split == "train" else "eval")
        if resolved is None and split == "train":
            raise UsageError(f"dataset {name}: no ImageSets/Main/trainval.txt or train.txt under {source.path}; "
                             f"name the image set: {name}:SET")
        if resolved is None:
            raise UsageError(f"dataset {name} has no evaluation split (a VOC test or val image set, a COCO val file "
                             "beside the train file); name one with --eval-dataset")
        return str(resolved)
    if name in ("synthetic", "synthetic-coco"):
        return f"{name}-{'train' if split == 'train' else 'val'}"
    if split == "eval" and run.task.get("command") != "eval":
        return EVAL_DATASET[name]
    return name


def class_option(run: RunContext) -> list[str] | None:
    """Model option ``classes``: a list, or names separated by commas."""
    value = run.options["classes"]
    names = value.split(",") if isinstance(value, str) else value
    if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names)
                              or not names):
        raise UsageError(f"model efficientdet option 'classes': expected a list of class names, got {value!r}")
    return [n.strip() for n in names] if names is not None else None


def dataset(run: RunContext, split: str) -> DetectionDataset:
    """The dataset of ``split``, built once per run. While training, the evaluation set must have
    the training set's classes (a ``voc:`` evaluation set takes them)."""
    cache = run.state.setdefault(NAME, {}).setdefault("datasets", {})
    if split not in cache:
        name = split_dataset(run, split)
        options = run.options
        transform = build_transforms(split == "train", image_size(run), (options["scale_min"], options["scale_max"]))
        source = parse_source(name)
        after_training = split == "eval" and run.task.get("command") != "eval"  # evaluates what train/run trained
        if source is not None:
            classes = class_option(run) or (dataset(run, "train").class_names if after_training and source.kind == "voc"
                                            else None)
            cache[split] = read_source(source, transform, classes)
        else:
            synthetic = SyntheticConfig(num_train=options["synthetic_train"], num_val=options["synthetic_val"],
                                        image_size=image_size(run), seed=0)
            cache[split] = build_dataset(name, data_root(run, name), train=split == "train",
                                         image_size=image_size(run),
                                         scale_range=(options["scale_min"], options["scale_max"]),
                                         synthetic=synthetic)
        if after_training:
            trained_on, evaluated = dataset(run, "train").class_names, cache[split].class_names
            if tuple(trained_on) != tuple(evaluated):
                difference = class_difference(trained_on, evaluated, "training", "evaluation")
                raise UsageError(f"evaluation dataset {name} has other classes than the training dataset "
                                 f"{run.config.dataset}: {difference}")
    return cache[split]


def loader(run: RunContext, split: str, *, batch_size: int | None = None) -> torch.utils.data.DataLoader:
    train = split == "train"
    shard = (run.rank, run.world_size) if train and run.world_size > 1 else None
    settings = run.data_loader
    return build_loader(dataset(run, split), batch_size or run.config.batch_size, shuffle=train,
                        workers=settings["workers"], pin_memory=settings["pin_memory"], drop_last=train,
                        seed=run.config.seed, shard=shard, prefetch_factor=settings["prefetch_factor"])


def train_step(run: RunContext, model: torch.nn.Module) -> TrainStep:
    state = run.state.setdefault(NAME, {})
    if "step" not in state:
        options = run.options
        state["step"] = TrainStep(unwrap(model), run.device, image_size=image_size(run), amp=options["amp"],
                                  amp_dtype=options["amp_dtype"],
                                  channels_last=options["channels_last"], clip_grad_norm=options["clip_grad_norm"],
                                  world_size=run.world_size)
    return state["step"]


def build_model(run: RunContext) -> torch.nn.Module:
    """The run's EfficientDet for its dataset's classes, from --checkpoint or --weights if given, on its device."""
    if run.options["coco_evaluator"] not in COCO_EVALUATORS:  # checked before hours of training, not after
        raise UsageError(f"model efficientdet option 'coco_evaluator': expected one of {', '.join(COCO_EVALUATORS)}, "
                         f"got {run.options['coco_evaluator']!r}")
    if run.options["amp_dtype"] not in AMP_DTYPES:
        raise UsageError(f"model efficientdet option 'amp_dtype': expected one of {', '.join(AMP_DTYPES)}, "
                         f"got {run.options['amp_dtype']!r}")
    split = "eval" if run.task.get("command") == "eval" else "train"
    class_names = dataset(run, split).class_names
    model = build_efficientdet(run.config.variant, len(class_names), image_size=image_size(run),
                               backbone_weights=run.options["backbone_weights"], tf_layout=run.options["tf_layout"])
    checkpoint, weights = run.task.get("checkpoint"), run.options["weights"]
    if checkpoint and weights:
        raise UsageError("give either --checkpoint or --weights, not both")
    if checkpoint:
        state = load_checkpoint(checkpoint)
        check_layout(checkpoint, bool(state.get("tf_layout")), model)
        saved_classes = tuple(state.get("class_names", class_names))
        if saved_classes != tuple(class_names):
            raise UsageError(f"checkpoint {checkpoint} was trained on classes {', '.join(saved_classes[:5])}... "
                             f"but dataset {run.config.dataset} has {', '.join(class_names[:5])}...: "
                             f"{class_difference(saved_classes, class_names, 'the checkpoint')}")
        load_model_state(model, state.get("ema") or state["model"], checkpoint)
        if state.get("backbone_bn_eps"):
            set_backbone_bn_eps(model, state["backbone_bn_eps"])
    elif weights and not run.task.get("resume"):  # a resumed run continues from its own checkpoint
        report = load_weights(model, weights, class_names, allow_new_classes=split == "train")
        if run.rank == 0:
            print(f"dnn-suite: {report.summary()}", file=sys.stderr)
    model = model.to(run.device, memory_format=memory_format(run.options["channels_last"]))
    return model.train()


def build_optimizer(run: RunContext, model: torch.nn.Module) -> torch.optim.Optimizer:
    options = run.options
    global_batch = run.config.batch_size * run.world_size  # the recipe's learning rate follows all ranks' images
    return build_sgd(model, batch_size=global_batch, lr_per_64_images=options["lr_per_64_images"],
                     momentum=options["momentum"], weight_decay=options["weight_decay"],
                     fused=run.device.type == "cuda")
