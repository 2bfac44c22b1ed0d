"""Dataset names -> datasets, and the DataLoader that batches them.

Each name is one split. ``synthetic-*`` names generate the synthetic data under
``<root>/synthetic`` on first use; ``synthetic-train``/``-val`` read it through the VOC reader,
``synthetic-coco-train``/``-val`` through the COCO reader.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, DistributedSampler

from dnn_suite import signals
from dnn_suite.errors import UsageError

from .coco import read_coco
from .dataset import DetectionDataset
from .shapes import SHAPE_CLASSES
from .synthetic import ensure_synthetic, synthetic_dir
from .transforms import SCALE_JITTER, build_transforms
from .voc import VOC_CLASSES, read_voc

# name -> (VOC<...> directories under VOCdevkit, image set); the synthetic data mirrors a real data root.
_VOC_SETS = {
    "voc2007-trainval": (("VOC2007",), "trainval"),
    "voc2007-test": (("VOC2007",), "test"),
    "voc2012-trainval": (("VOC2012",), "trainval"),
    "voc07+12": (("VOC2007", "VOC2012"), "trainval"),
    "synthetic-train": (("VOCsynthetic",), "train"),
    "synthetic-val": (("VOCsynthetic",), "val"),
}
# name -> split of annotations/instances_<split>.json and images/<split>/
_COCO_SPLITS = {
    "coco2017-train": "train2017",
    "coco2017-val": "val2017",
    "synthetic-coco-train": "train",
    "synthetic-coco-val": "val",
}
DATASET_NAMES = (*_VOC_SETS, *_COCO_SPLITS)
# The usual evaluation split for each dataset (VOC2012 test annotations are not public).
EVAL_DATASET = {
    **dict.fromkeys(["voc2007-trainval", "voc2007-test", "voc2012-trainval", "voc07+12"], "voc2007-test"),
    **dict.fromkeys(["coco2017-train", "coco2017-val"], "coco2017-val"),
    **dict.fromkeys(["synthetic-train", "synthetic-val"], "synthetic-val"),
    **dict.fromkeys(["synthetic-coco-train", "synthetic-coco-val"], "synthetic-coco-val"),
}


@dataclass(frozen=True)
class SyntheticConfig:
    """Generation parameters of the synthetic dataset (``image_size`` is the images' longer side)."""

    num_train: int = 512
    num_val: int = 128
    image_size: int = 256
    seed: int = 0


def build_dataset(
    name: str,
    root: Path,
    *,
    train: bool,
    image_size: int,
    scale_range: tuple[float, float] = SCALE_JITTER,
    synthetic: SyntheticConfig = SyntheticConfig(),
    letterbox: bool = True,
) -> DetectionDataset:
    """The dataset ``name`` under the data root, with train (augmenting) or eval transforms
    (``letterbox``: see :func:`build_transforms`)."""
    if name not in DATASET_NAMES:
        raise UsageError(f"unknown dataset {name!r}; expected one of {', '.join(DATASET_NAMES)}")
    transform = build_transforms(train, image_size, scale_range, letterbox=letterbox)
    is_synthetic = name.startswith("synthetic")
    if is_synthetic:
        params = asdict(synthetic)
        root = ensure_synthetic(synthetic_dir(root, **params), **params)
    if name in _VOC_SETS:
        dirs, image_set = _VOC_SETS[name]
        classes = SHAPE_CLASSES if is_synthetic else VOC_CLASSES
        return read_voc([root / "VOCdevkit" / d for d in dirs], image_set, classes, transform)
    split = _COCO_SPLITS[name]
    return read_coco(root / "annotations" / f"instances_{split}.json", root / "images" / split, transform)


def collate(batch: list[tuple[torch.Tensor, dict[str, Any]]]) -> tuple[torch.Tensor, list[dict[str, Any]]]:
    """Stack the (equal-sized) images; keep the targets, which differ in box count, as a list."""
    images, targets = zip(*batch)
    return torch.stack(images), list(targets)


def collate_list(batch: list[tuple[torch.Tensor, dict[str, Any]]]) -> tuple[list[torch.Tensor], list[dict[str, Any]]]:
    """Images of different sizes as a list (for detectors that batch them themselves), and the targets."""
    images, targets = zip(*batch)
    return list(images), list(targets)


def build_loader(
    dataset: DetectionDataset,
    batch_size: int,
    *,
    shuffle: bool = False,
    workers: int = 0,
    pin_memory: bool = False,
    drop_last: bool = False,
    seed: int = 0,
    shard: tuple[int, int] | None = None,
    prefetch_factor: int | None = None,
    stack: bool = True,
) -> DataLoader:
    """A DataLoader of ``(images [N, 3, S, S], targets)``; shuffling and augmentation follow ``seed``.
    ``stack=False`` yields the images as a list (they may differ in size: ``letterbox=False``).

    Workers are persistent: a benchmark iterates the loader many times, and restarting workers
    every epoch would show up as data-loading stalls. ``shard`` = ``(rank, world_size)`` gives
    one process of a multi-process run its share through a ``DistributedSampler``.
    """
    sampler = None
    if shard is not None:
        rank, world_size = shard
        sampler = DistributedSampler(dataset, world_size, rank, shuffle=shuffle, seed=seed, drop_last=drop_last)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate if stack else collate_list,
        pin_memory=pin_memory,
        drop_last=drop_last,
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=workers > 0,
        prefetch_factor=prefetch_factor if workers > 0 else None,
        worker_init_fn=signals.ignore_in_worker if workers > 0 else None,  # a signalled group stops the run, not us
    )
