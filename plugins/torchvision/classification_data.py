"""The classifiers' datasets: a synthetic one generated in memory, and any ImageFolder directory.

``synthetic``: every class has its own colour and its own striped pattern (a sinusoidal grating
of a class-specific frequency and orientation); each image takes a random phase and Gaussian
noise. It is a pure function of (seed, split, class count, size, count), takes no disk and no
download, and a small network learns it within a few hundred images. Train and val draw their
images from different generators but share the classes.

``imagefolder:DIR``: ``torchvision.datasets.ImageFolder``. With ``DIR/train`` and ``DIR/val``,
those are the splits (``DIR/train`` alone serves both); otherwise DIR itself serves both. ``--eval-dataset imagefolder:OTHER``
evaluates elsewhere (it must have the same classes). ``dnn-suite data check imagefolder:DIR`` reads
the folders a run would.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from torchvision import datasets, transforms

from dnn_suite import signals
from dnn_suite.context import RunContext
from dnn_suite.datasets.batches import check_one_batch
from dnn_suite.datasets.images import read_rgb
from dnn_suite.errors import UsageError
from dnn_suite.registry import DatasetCheck

SYNTHETIC = "synthetic"
IMAGEFOLDER = "imagefolder:"
# ImageNet's statistics, with which torchvision's classifiers are trained
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
_SPLIT_SEED = {"train": 1, "eval": 2}
_CHUNK = 64  # images generated at a time (bounds the float intermediates at large sizes)


class SyntheticClassification(Dataset):
    """Generated images, held as uint8; items are normalised float images and class indices."""

    def __init__(self, count: int, classes: int, image_size: int, *, seed: int, split: str) -> None:
        self.classes = [f"class{i}" for i in range(classes)]
        looks = torch.Generator().manual_seed(seed)  # the classes' looks: the same in every split
        self.colour = torch.rand(classes, 3, generator=looks) * 0.8 + 0.2
        self.frequency = 1.5 + torch.rand(classes, generator=looks) * 4.0  # stripes per image side
        self.angle = torch.rand(classes, generator=looks) * math.pi
        draw = torch.Generator().manual_seed(seed * 10 + _SPLIT_SEED[split])
        self.labels = torch.randint(classes, (count,), generator=draw)
        self.images = torch.cat([self._render(self.labels[i:i + _CHUNK], image_size, draw)
                                 for i in range(0, count, _CHUNK)])
        self.normalize = transforms.Normalize(MEAN, STD)

    def _render(self, labels: torch.Tensor, size: int, draw: torch.Generator) -> torch.Tensor:
        axis = torch.linspace(0, 1, size)
        y, x = torch.meshgrid(axis, axis, indexing="ij")
        angle = self.angle[labels].view(-1, 1, 1)
        phase = torch.rand(len(labels), 1, 1, generator=draw) * 2 * math.pi
        wave = torch.sin(2 * math.pi * self.frequency[labels].view(-1, 1, 1)
                         * (x * torch.cos(angle) + y * torch.sin(angle)) + phase)
        image = self.colour[labels].view(-1, 3, 1, 1) * (0.55 + 0.45 * wave.unsqueeze(1))
        image = image + 0.15 * torch.randn(image.shape, generator=draw)
        return (image.clamp(0, 1) * 255).round().to(torch.uint8)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.normalize(self.images[index].float() / 255), int(self.labels[index])


def split_dataset(run: RunContext, split: str) -> str:
    """The dataset spec ``split`` reads: --eval-dataset, else the training dataset's eval split."""
    if split == "eval" and run.config.eval_dataset:
        return run.config.eval_dataset
    name = run.config.dataset
    if not name.startswith(IMAGEFOLDER):
        return name
    root = Path(name[len(IMAGEFOLDER):]).expanduser()
    folder = folder_splits(root)[split]
    return name if folder == root else f"{IMAGEFOLDER}{folder}"


def folder_splits(root: Path) -> dict[str, Path]:
    """The folder each split reads: DIR/train and DIR/val (DIR/train alone serves both), else DIR itself."""
    if not (root / "train").is_dir():
        return {"train": root, "eval": root}
    return {"train": root / "train", "eval": root / "val" if (root / "val").is_dir() else root / "train"}


def check_folder(spec: str) -> Path:
    path = Path(spec[len(IMAGEFOLDER):]).expanduser()
    if not path.is_dir():
        raise UsageError(f"dataset {spec}: no such directory (expected an ImageFolder layout: DIR/CLASS/IMAGE, "
                         "or DIR/train/CLASS/IMAGE and DIR/val/CLASS/IMAGE)")
    return path


def _image_folder(spec: str, train: bool, size: int) -> datasets.ImageFolder:
    path = check_folder(spec)
    if train:
        steps = [transforms.RandomResizedCrop(size), transforms.RandomHorizontalFlip()]
    else:
        steps = [transforms.Resize(round(size / 0.875)), transforms.CenterCrop(size)]
    transform = transforms.Compose([*steps, transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    return _read_folder(spec, path, transform)


def _read_folder(spec: str, path: Path, transform: Callable | None = None) -> datasets.ImageFolder:
    """The ImageFolder at ``path``: two classes or more, images decoded by :func:`read_rgb` (a file
    that is not an image is the data's fault, named)."""
    try:
        folder = datasets.ImageFolder(str(path), transform=transform, loader=read_rgb)
    except (FileNotFoundError, RuntimeError) as exc:  # no class folder, or no image in them
        raise UsageError(f"dataset {spec}: {str(exc).splitlines()[0]} (expected DIR/CLASS/IMAGE files)") from None
    if len(folder.classes) < 2:
        raise UsageError(f"dataset {spec}: {path} has one class folder ({folder.classes[0]}), and training on one "
                         "class measures nothing; expected a folder per class, two or more (DIR/CLASS/IMAGE)")
    return folder


def check_image_folder(spec: str) -> DatasetCheck:
    """``dnn-suite data check imagefolder:DIR``: the folders training and evaluation read, their
    classes (the same in both) and images (which ``--images`` decodes)."""
    root = check_folder(spec)
    splits = folder_splits(root)
    read = {folder: _read_folder(spec, folder) for folder in dict.fromkeys(splits.values())}
    (first_folder, first), *rest = read.items()
    for folder, other in rest:
        if other.classes != first.classes:
            raise UsageError(f"dataset {spec}: {folder} has other classes than {first_folder}: "
                             f"{', '.join(other.classes[:5])}... instead of {', '.join(first.classes[:5])}...")
    counts = ", ".join(f"{f'{folder.name}/ ' if folder != root else ''}{len(data)} images"
                       for folder, data in read.items())
    if len(read) == 1:
        counts += " (training and evaluation)"
    classes = first.classes
    listed = ", ".join(classes[:10]) + (f" and {len(classes) - 10} more" if len(classes) > 10 else "")
    return DatasetCheck(f"{counts}; {len(classes)} classes: {listed}",
                        tuple(Path(path) for data in read.values() for path, _ in data.samples))


def dataset(run: RunContext, split: str, image_size: int) -> Dataset:
    """The dataset of ``split``, built once per run; an eval set must have the training set's classes."""
    cache = run.state.setdefault("torchvision", {}).setdefault("datasets", {})
    if split not in cache:
        name = split_dataset(run, split)
        if name.startswith(IMAGEFOLDER):
            cache[split] = _image_folder(name, split == "train", image_size)
        else:
            options = run.options
            count = options["synthetic_train"] if split == "train" else options["synthetic_val"]
            cache[split] = SyntheticClassification(count, options["num_classes"], image_size, seed=run.config.seed,
                                                   split=split)
        after_training = split == "eval" and run.task.get("command") != "eval"
        if after_training and cache[split].classes != dataset(run, "train", image_size).classes:
            raise UsageError(f"evaluation dataset {name} has other classes than the training dataset "
                             f"{run.config.dataset}: {', '.join(cache[split].classes[:5])}...")
    return cache[split]


def loader(run: RunContext, split: str, image_size: int) -> DataLoader:
    """Training: shuffled (seeded), whole batches (at least one), this rank's share; evaluation: every
    image in order."""
    train = split == "train"
    data = dataset(run, split, image_size)
    if train:
        check_one_batch(run.config.dataset, len(data), run.config.batch_size, run.world_size)
    settings = run.data_loader
    sampler = DistributedSampler(data, run.world_size, run.rank, seed=run.config.seed) \
        if train and run.world_size > 1 else None
    return DataLoader(data, batch_size=run.config.batch_size, shuffle=train and sampler is None, sampler=sampler,
                      drop_last=train, num_workers=settings["workers"], pin_memory=settings["pin_memory"],
                      prefetch_factor=settings["prefetch_factor"], persistent_workers=settings["persistent_workers"],
                      worker_init_fn=signals.ignore_in_worker if settings["workers"] else None,
                      generator=torch.Generator().manual_seed(run.config.seed))
