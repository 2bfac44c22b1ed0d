"""Dataset registry, collate and DataLoader on the synthetic data."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch

from dnn_suite.errors import UsageError
from dnn_suite_detection.data import (
    DATASET_NAMES,
    EVAL_DATASET,
    SHAPE_CLASSES,
    SyntheticConfig,
    build_dataset,
    build_loader,
    synthetic_dir,
)

TINY = SyntheticConfig(num_train=10, num_val=4, image_size=64, seed=0)


def test_unknown_name_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as excinfo:
        build_dataset("voc2099", tmp_path, train=True, image_size=64)
    message = str(excinfo.value)
    assert "'voc2099'" in message and all(name in message for name in DATASET_NAMES)


def test_every_dataset_has_an_evaluation_split() -> None:
    assert set(EVAL_DATASET) == set(DATASET_NAMES)
    assert set(EVAL_DATASET.values()) <= set(DATASET_NAMES)


@pytest.mark.parametrize("name", ["synthetic-train", "synthetic-coco-val"])
def test_collated_batch_shapes_and_target_format(tmp_path: Path, name: str) -> None:
    dataset = build_dataset(name, tmp_path, train=name.endswith("train"), image_size=48, synthetic=TINY)
    assert dataset.class_names == SHAPE_CLASSES
    images, targets = next(iter(build_loader(dataset, batch_size=3)))
    assert images.shape == (3, 3, 48, 48) and images.dtype == torch.float32
    assert len(targets) == 3
    for target in targets:
        n = len(target["labels"])
        assert type(target["boxes"]) is torch.Tensor
        assert target["boxes"].shape == (n, 4) and target["boxes"].dtype == torch.float32
        assert target["labels"].dtype == torch.int64 and target["difficult"].dtype == torch.bool
        assert ((target["boxes"] >= 0) & (target["boxes"] <= 48)).all()
        assert isinstance(target["image_id"], int) and isinstance(target["scale"], float)
        assert len(target["orig_size"]) == 2 and max(target["orig_size"]) == 64
    assert [p.relative_to(tmp_path) for p in tmp_path.glob("synthetic/*/synthetic.json")] == [
        synthetic_dir(Path(), **asdict(TINY)) / "synthetic.json"]


def test_synthetic_sets_of_other_parameters_live_side_by_side(tmp_path: Path) -> None:
    """A run at another image size must not replace the images a concurrent run is reading."""
    small = build_dataset("synthetic-train", tmp_path, train=True, image_size=48, synthetic=TINY)
    first = tmp_path / synthetic_dir(Path(), **asdict(TINY))
    images = sorted(first.rglob("*.jpg"))
    other = replace(TINY, image_size=TINY.image_size * 2)
    build_dataset("synthetic-train", tmp_path, train=True, image_size=48, synthetic=other)
    folders = sorted(p.parent for p in tmp_path.glob("synthetic/*/synthetic.json"))
    assert folders == sorted([first, tmp_path / synthetic_dir(Path(), **asdict(other))])
    assert images and sorted(first.rglob("*.jpg")) == images  # untouched by the second set
    assert small[0][0].shape == (3, 48, 48)  # the first set is still there to read


def test_loader_with_two_workers_is_reproducible(tmp_path: Path) -> None:
    dataset = build_dataset("synthetic-train", tmp_path, train=True, image_size=48, synthetic=TINY)

    def epoch(seed: int) -> list[tuple[torch.Tensor, list[int]]]:
        loader = build_loader(dataset, batch_size=4, shuffle=True, workers=2, drop_last=True, seed=seed)
        return [(images, [t["image_id"] for t in targets]) for images, targets in loader]

    first, again = epoch(1), epoch(1)
    assert len(first) == 2 and all(images.shape == (4, 3, 48, 48) for images, _ in first)
    assert [ids for _, ids in first] == [ids for _, ids in again]
    assert all(torch.equal(a, b) for (a, _), (b, _) in zip(first, again))
    assert sorted(i for _, ids in first for i in ids) != list(range(8))  # shuffled, last two dropped


def test_sharded_loaders_split_an_epoch_between_the_ranks(tmp_path: Path) -> None:
    dataset = build_dataset("synthetic-val", tmp_path, train=False, image_size=48, synthetic=TINY)

    def ids(rank: int) -> list[int]:
        loader = build_loader(dataset, batch_size=1, shuffle=True, seed=3, shard=(rank, 2))
        return [t["image_id"] for _, targets in loader for t in targets]

    first, second = ids(0), ids(1)
    assert len(first) == len(second) == 2 and sorted(first + second) == list(range(4))  # disjoint halves
    assert first == ids(0)  # the same shuffle on every call with the same seed
