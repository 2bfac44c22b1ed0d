"""The synthetic shapes dataset: determinism, VOC/COCO agreement, reuse and regeneration."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from dnn_suite.errors import UsageError
from dnn_suite_detection.data import SHAPE_CLASSES, ensure_synthetic, read_coco, read_voc

SMALL = {"num_train": 24, "num_val": 6, "image_size": 96}


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    first = _digest(ensure_synthetic(tmp_path / "a", seed=3, **SMALL))
    assert first == _digest(ensure_synthetic(tmp_path / "b", seed=3, **SMALL))
    other = _digest(ensure_synthetic(tmp_path / "c", seed=4, **SMALL))
    assert first.keys() == other.keys() and first != other
    assert sum(name.endswith(".jpg") for name in first) == 2 * (24 + 6)  # VOC JPEGImages + COCO images/


def test_voc_and_coco_views_agree(tmp_path: Path) -> None:
    root = ensure_synthetic(tmp_path / "s", seed=0, **SMALL)
    for split in ("train", "val"):
        voc = read_voc([root / "VOCdevkit" / "VOCsynthetic"], split, SHAPE_CLASSES)
        coco = read_coco(root / "annotations" / f"instances_{split}.json", root / "images" / split)
        assert voc.class_names == coco.class_names == SHAPE_CLASSES
        assert len(voc) == len(coco) == SMALL[f"num_{split}"]
        for i in range(len(voc)):
            a, b = voc.ground_truth(i), coco.ground_truth(i)
            assert torch.equal(a["boxes"], b["boxes"]) and torch.equal(a["labels"], b["labels"])
        image_a, _ = voc[0]
        image_b, _ = coco[0]
        assert torch.equal(image_a, image_b)


def test_content_is_varied_and_boxes_lie_inside_the_images(tmp_path: Path) -> None:
    root = ensure_synthetic(tmp_path / "s", num_train=60, num_val=1, image_size=128, seed=0)
    dataset = read_voc([root / "VOCdevkit" / "VOCsynthetic"], "train", SHAPE_CLASSES)
    counts = [len(dataset.ground_truth(i)["labels"]) for i in range(len(dataset))]
    assert 0 in counts and max(counts) >= 4  # empty images and crowded ones
    labels = torch.cat([dataset.ground_truth(i)["labels"] for i in range(len(dataset))])
    assert set(labels.tolist()) == set(range(len(SHAPE_CLASSES)))
    for i in range(0, len(dataset), 10):
        image, target = dataset[i]
        h, w = image.shape[-2:]
        assert max(h, w) == 128
        boxes = target["boxes"]
        assert (boxes[:, 2:] <= torch.tensor([w, h])).all() and (boxes[:, :2] >= 0).all()
        sides = (boxes[:, 2:] - boxes[:, :2]).min(dim=1).values if len(boxes) else torch.zeros(0)
        assert (sides >= 8).all()  # nothing too small to learn


def test_reuses_matching_data_and_regenerates_on_parameter_change(tmp_path: Path) -> None:
    root = ensure_synthetic(tmp_path / "s", seed=0, **SMALL)
    marker = root / "synthetic.json"
    stamp = marker.stat().st_mtime_ns
    image = root / "images" / "train" / "train_000000.jpg"
    inode = image.stat().st_ino
    assert ensure_synthetic(tmp_path / "s", seed=0, **SMALL) == root
    assert marker.stat().st_mtime_ns == stamp and image.stat().st_ino == inode

    ensure_synthetic(tmp_path / "s", seed=0, **{**SMALL, "num_val": 3})
    assert len(list((root / "images" / "val").iterdir())) == 3
    assert '"num_val": 3' in marker.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["s"]  # no staging directory left behind


def _generate_and_read(root: Path, start: multiprocessing.synchronize.Barrier,
                       digests: multiprocessing.Queue) -> None:
    """In a child process: ask for the dataset together with the other child, then read it all.

    Renaming waits a moment, which widens the window between checking for the data and moving
    it into place: without a lock, the two children would reliably collide there."""
    rename = os.rename

    def slow_rename(source: Path, target: Path) -> None:
        time.sleep(0.5)
        rename(source, target)

    os.rename = slow_rename  # this child's own os module
    start.wait()
    try:
        digests.put(_digest(ensure_synthetic(root, seed=0, **SMALL)))
    except Exception as error:  # reported by the test, with its message
        digests.put(repr(error))


def test_concurrent_processes_generating_the_same_data_both_succeed(tmp_path: Path) -> None:
    """The ranks of a multi-process run all ask for the dataset at once: one generates it under
    the lock, the other waits and reuses it, and neither deletes what the other returned."""
    context = multiprocessing.get_context("fork")  # two processes at once; fork spares re-importing torch
    start, digests = context.Barrier(2), context.Queue()
    children = [context.Process(target=_generate_and_read, args=(tmp_path / "s", start, digests))
                for _ in range(2)]
    for child in children:
        child.start()
    results = [digests.get(timeout=120) for _ in children]
    for child in children:
        child.join(timeout=60)
    assert [child.exitcode for child in children] == [0, 0]
    expected = _digest(ensure_synthetic(tmp_path / "reference" / "s", seed=0, **SMALL))
    assert results == [expected, expected]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reference", "s"]  # no staging directory left behind


def test_refuses_to_replace_a_directory_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "precious.txt").write_text("keep me")
    with pytest.raises(UsageError, match="synthetic.json"):
        ensure_synthetic(tmp_path / "data", **SMALL)
    assert (tmp_path / "data" / "precious.txt").read_text() == "keep me"


def test_rejects_unusable_parameters(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="image_size=16"):
        ensure_synthetic(tmp_path / "s", num_train=2, num_val=2, image_size=16)
    assert not (tmp_path / "s").exists()


def test_objects_contrast_with_the_background(tmp_path: Path) -> None:
    """Learnability proxy: pixels inside boxes differ clearly from the background around them."""
    root = ensure_synthetic(tmp_path / "s", num_train=20, num_val=1, image_size=128, seed=1)
    dataset = read_voc([root / "VOCdevkit" / "VOCsynthetic"], "train", SHAPE_CLASSES)
    differences = []
    for i in range(len(dataset)):
        image, target = dataset[i]
        pixels = image.permute(1, 2, 0).float().numpy()
        inside = np.zeros(pixels.shape[:2], dtype=bool)
        for x1, y1, x2, y2 in target["boxes"].int().tolist():
            inside[y1:y2, x1:x2] = True
        for x1, y1, x2, y2 in target["boxes"].int().tolist():
            cx, cy = (x1 + x2) // 2, (y1 + y2) // 2
            differences.append(np.linalg.norm(pixels[cy, cx] - pixels[~inside].mean(axis=0)))
    assert np.median(differences) > 60
