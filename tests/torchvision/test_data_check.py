"""`dnn-suite data check imagefolder:DIR`: the folders a run reads, their classes and images."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image


def image_folder(root: Path, counts: dict[str, dict[str, int]]) -> Path:
    """``counts[split][class]`` small PNGs in root/SPLIT/CLASS/ (split "" for root/CLASS/)."""
    for split, classes in counts.items():
        for name, count in classes.items():
            folder = root / split / name
            folder.mkdir(parents=True)
            for index in range(count):
                Image.new("RGB", (12, 10), (40 * index, 90, 200)).save(folder / f"{index}.png")
    return root


def test_splits_classes_and_image_counts(cli, tmp_path):
    root = image_folder(tmp_path / "data", {"train": {"cat": 3, "dog": 2}, "val": {"cat": 1, "dog": 1}})
    result = cli("data", "check", f"imagefolder:{root}")
    assert result.code == 0, result.err
    assert result.out.split() == [f"imagefolder:{root}", "ok", "train/", "5", "images,", "val/", "2", "images;",
                                  "2", "classes:", "cat,", "dog"]


def test_one_folder_serves_both_splits(cli, tmp_path):
    root = image_folder(tmp_path / "data", {"": {"a": 1, "b": 1, "c": 2}})
    result = cli("data", "check", f"imagefolder:{root}")
    assert result.code == 0 and "ok         4 images (training and evaluation); 3 classes: a, b, c" in result.out


def test_images_lists_the_unreadable_ones(cli, tmp_path):
    root = image_folder(tmp_path / "data", {"train": {"cat": 2, "dog": 2}, "val": {"cat": 1, "dog": 1}})
    broken = root / "val" / "dog" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    assert cli("data", "check", f"imagefolder:{root}").code == 0  # listed, not decoded
    result = cli("data", "check", f"imagefolder:{root}", "--images", "--workers", "1")
    assert result.code == 2
    assert f"unreadable image {broken}" in result.out and "7 images decoded: 1 unreadable or truncated" in result.out
    assert result.err.strip().startswith("dnn-suite: error: unreadable or truncated images in imagefolder:")


@pytest.mark.parametrize("layout, expected", [
    ({"train": {"cat": 1, "dog": 1}, "val": {"cat": 1, "cow": 1}}, "val has other classes than"),
    (None, "no such directory"),
    ({"train": {}}, "expected DIR/CLASS/IMAGE files"),
])
def test_a_folder_a_run_could_not_read_is_one_line_exit_2(cli, tmp_path, layout, expected):
    root = tmp_path / "data"
    if layout == {"train": {}}:
        (root / "train").mkdir(parents=True)
    elif layout is not None:
        image_folder(root, layout)
    result = cli("data", "check", f"imagefolder:{root}")
    assert result.code == 2
    (line,) = result.err.strip().splitlines()
    assert line.startswith(f"dnn-suite: error: dataset imagefolder:{root}") and expected in line
