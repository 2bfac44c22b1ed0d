"""The datasets of a detection run: which dataset each split reads, where, and with which classes.

Every detection plugin resolves ``--dataset``, ``--eval-dataset`` and ``--data-root`` the same
way: a training set evaluates on its usual evaluation split (VOC -> VOC2007 test, COCO ->
val2017, ``voc:DIR`` -> its test/val image set, ``synthetic`` -> its val split), except that
``dnn-suite eval`` evaluates the dataset it is given; the synthetic data is generated under the
cache, real data is read from /dataset (the original benchmark's layout). While training, the
evaluation set must have the training set's classes. Plugins differ only in their transforms.

The plugin's model options this reads: ``classes`` (class names of a ``voc:`` dataset),
``synthetic_train`` and ``synthetic_val`` (image counts of the synthetic splits).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from dnn_suite.context import RunContext
from dnn_suite.datasets.batches import check_one_batch
from dnn_suite.errors import UsageError
from dnn_suite.training.classes import class_difference

from .data import EVAL_DATASET, DetectionDataset, SyntheticConfig, build_dataset, build_loader, build_transforms
from .data.sources import parse_source, read_source, split_source

DEFAULT_REAL_ROOT = Path("/dataset")


def data_root(run: RunContext, dataset: str) -> Path:
    """``--data-root``, else the cache for the synthetic data and /dataset for real data."""
    if run.config.data_root:
        return Path(run.config.data_root)
    if dataset.startswith("synthetic"):
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        return cache / "dnn-suite"
    return DEFAULT_REAL_ROOT


def split_dataset(run: RunContext, split: str) -> str:
    """The concrete dataset name or source of ``split`` ("train" or "eval")."""
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


def class_order_setting(run: RunContext) -> str | None:
    """``model_options.classes`` where it orders the classes of the run's dataset (a ``voc:`` source),
    for a message refusing another order; None where nothing can."""
    source = parse_source(run.config.dataset)
    return "model_options.classes" if source is not None and source.kind == "voc" else None


def class_option(run: RunContext) -> list[str] | None:
    """Model option ``classes``: a list, or names separated by commas."""
    value = run.options.get("classes")
    names = value.split(",") if isinstance(value, str) else value
    if names is not None and (not isinstance(names, list) or not names
                              or not all(isinstance(n, str) and n.strip() for n in names)):
        raise UsageError(f"model {run.config.model} option 'classes': expected a list of class names, got {value!r}")
    return [n.strip() for n in names] if names is not None else None


def run_dataset(run: RunContext, split: str, *, owner: str, image_size: int, letterbox: bool = True) -> DetectionDataset:
    """The dataset of ``split``, built once per run and kept in ``run.state[owner]``, with the
    transforms of :func:`~dnn_suite_detection.data.build_transforms` (``letterbox``: EfficientDet's
    square inputs, or images left for the model to resize; scale jitter from the model options
    ``scale_min``/``scale_max`` where the plugin has them). ``image_size`` is the input size and the
    synthetic images' longer side."""
    cache = run.state.setdefault(owner, {}).setdefault("datasets", {})
    if split in cache:
        return cache[split]
    options = run.options
    train = split == "train"
    scale_range = (options.get("scale_min", 1.0), options.get("scale_max", 1.0))
    name = split_dataset(run, split)
    source = parse_source(name)
    after_training = split == "eval" and run.task.get("command") != "eval"  # evaluates what train/run trained
    trained_on = (run_dataset(run, "train", owner=owner, image_size=image_size, letterbox=letterbox).class_names
                  if after_training else None)
    if source is not None:
        transform = build_transforms(train, image_size, scale_range, letterbox=letterbox)
        classes = class_option(run) or (trained_on if source.kind == "voc" else None)
        cache[split] = read_source(source, transform, classes)
    else:
        synthetic = SyntheticConfig(num_train=options["synthetic_train"], num_val=options["synthetic_val"],
                                    image_size=image_size, seed=0)
        cache[split] = build_dataset(name, data_root(run, name), train=train, image_size=image_size,
                                     scale_range=scale_range, synthetic=synthetic, letterbox=letterbox)
    if trained_on is not None and tuple(trained_on) != tuple(cache[split].class_names):
        difference = class_difference(trained_on, cache[split].class_names, "training", "evaluation")
        raise UsageError(f"evaluation dataset {name} has other classes than the training dataset "
                         f"{run.config.dataset}: {difference}")
    return cache[split]


def run_loader(run: RunContext, data: DetectionDataset, split: str, *, batch_size: int | None = None,
               stack: bool = True) -> torch.utils.data.DataLoader:
    """A loader of ``data`` with the run's loader settings (``run.data_loader``); when training,
    shuffled from the run's seed, sharded across its processes and without a last partial batch.
    ``stack``: images as one tensor (square inputs) or a list (models that resize their own). A
    training set of less than one batch is refused (it would never give one)."""
    train = split == "train"
    if train:
        check_one_batch(run.config.dataset, len(data), batch_size or run.config.batch_size, run.world_size)
    settings = run.data_loader
    return build_loader(data, batch_size or run.config.batch_size, shuffle=train, workers=settings["workers"],
                        pin_memory=settings["pin_memory"], drop_last=train, seed=run.config.seed,
                        shard=(run.rank, run.world_size) if train and run.world_size > 1 else None,
                        prefetch_factor=settings["prefetch_factor"], stack=stack)
