"""The VOC reader on small hand-written VOCdevkit trees."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from PIL import Image

from dnn_suite.errors import UsageError
from dnn_suite_detection.data import VOC_CLASSES, build_dataset, read_voc


def _xml(width: int, height: int, objects: list[tuple]) -> str:
    """objects: (name, xmin, ymin, xmax, ymax[, difficult]); difficult None leaves the tag out."""
    parts = [f"<annotation><size><width>{width}</width><height>{height}</height><depth>3</depth></size>"]
    for name, *box in objects:
        difficult = box[4] if len(box) > 4 else 0
        tag = "" if difficult is None else f"<difficult>{difficult}</difficult>"
        coords = "".join(f"<{k}>{v}</{k}>" for k, v in zip(("xmin", "ymin", "xmax", "ymax"), box[:4]))
        parts.append(f"<object><name>{name}</name>{tag}<bndbox>{coords}</bndbox></object>")
    return "".join(parts) + "</annotation>"


def write_voc(root: Path, year: str, images: dict[str, str], image_set: str = "trainval") -> Path:
    """A VOCdevkit/VOC<year> tree with the given annotation XML per image name."""
    voc = root / "VOCdevkit" / f"VOC{year}"
    for sub in ("Annotations", "ImageSets/Main", "JPEGImages"):
        (voc / sub).mkdir(parents=True, exist_ok=True)
    for name, xml in images.items():
        (voc / "Annotations" / f"{name}.xml").write_text(xml)
        Image.new("RGB", (40, 30), (90, 120, 150)).save(voc / "JPEGImages" / f"{name}.jpg")
    (voc / "ImageSets" / "Main" / f"{image_set}.txt").write_text("\n".join(images) + "\n")
    return voc


def _one_line_error(excinfo: pytest.ExceptionInfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def test_boxes_labels_and_difficult_flags(tmp_path: Path) -> None:
    xml = _xml(40, 30, [("dog", 1, 2, 20, 25, 0), ("person", 5, 5, 10, 10, 1), ("cat", 3, 4, 7, 9, None)])
    voc = write_voc(tmp_path, "2007", {"000001": xml})
    dataset = read_voc([voc], "trainval")
    truth = dataset.ground_truth(0)
    # 1-based inclusive XML pixels -> continuous coordinates [xmin - 1, xmax].
    assert truth["boxes"].tolist() == [[0, 1, 20, 25], [4, 4, 10, 10], [2, 3, 7, 9]]
    assert truth["labels"].tolist() == [VOC_CLASSES.index(n) for n in ("dog", "person", "cat")]
    assert truth["difficult"].tolist() == [False, True, False]
    assert dataset.class_names == VOC_CLASSES and dataset.image_ids == [0]


def test_out_of_image_boxes_are_clipped_or_dropped_with_one_warning(tmp_path: Path) -> None:
    # Inclusive pixels: xmin == xmax is one pixel wide; xmax < xmin, or a box beyond the edge, is empty.
    images = {
        "a": _xml(40, 30, [("dog", -5, 2, 20, 25), ("dog", 1, 1, 50, 40), ("cat", 3, 3, 2, 9)]),
        "b": _xml(40, 30, [("cat", 41, 2, 45, 9), ("cat", 2, 2, 8, 9)]),
    }
    voc = write_voc(tmp_path, "2007", images)
    with pytest.warns(UserWarning) as record:
        dataset = read_voc([voc], "trainval")
    assert len(record) == 1
    assert "2 boxes clipped" in str(record[0].message) and "2 boxes with zero area dropped" in str(record[0].message)
    assert dataset.ground_truth(0)["boxes"].tolist() == [[0, 1, 20, 25], [0, 0, 40, 30]]
    assert dataset.ground_truth(1)["boxes"].tolist() == [[1, 1, 8, 9]]


def test_image_without_objects_is_kept(tmp_path: Path) -> None:
    voc = write_voc(tmp_path, "2007", {"empty": _xml(40, 30, []), "one": _xml(40, 30, [("cat", 1, 1, 9, 9)])})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to repair, nothing to warn about
        dataset = read_voc([voc], "trainval")
    assert len(dataset) == 2
    assert dataset.ground_truth(0)["boxes"].shape == (0, 4)
    image, target = dataset[0]
    assert image.shape == (3, 30, 40) and target["labels"].numel() == 0


def test_voc07_plus_12_concatenates_both_years(tmp_path: Path) -> None:
    write_voc(tmp_path, "2007", {"000001": _xml(40, 30, [("dog", 1, 1, 9, 9)])})
    write_voc(tmp_path, "2012", {"2008_000001": _xml(40, 30, [("cat", 1, 1, 9, 9)]), "2008_000002": _xml(40, 30, [])})
    dataset = build_dataset("voc07+12", tmp_path, train=False, image_size=32)
    assert len(dataset) == 3 and dataset.image_ids == [0, 1, 2]
    assert dataset.ground_truth(1)["labels"].tolist() == [VOC_CLASSES.index("cat")]
    images, _ = zip(*(dataset[i] for i in range(3)))
    assert all(image.shape == (3, 32, 32) for image in images)


def test_missing_root_and_subfolders_name_the_expected_path(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as excinfo:
        build_dataset("voc2007-test", tmp_path, train=False, image_size=32)
    assert str(tmp_path / "VOCdevkit" / "VOC2007") in _one_line_error(excinfo)

    voc = write_voc(tmp_path, "2007", {"a": _xml(40, 30, [])})
    with pytest.raises(UsageError) as excinfo:
        read_voc([voc], "test")
    assert str(voc / "ImageSets" / "Main" / "test.txt") in _one_line_error(excinfo)

    (voc / "JPEGImages" / "a.jpg").unlink()
    (voc / "JPEGImages").rmdir()
    with pytest.raises(UsageError) as excinfo:
        read_voc([voc], "trainval")
    assert str(voc / "JPEGImages") in _one_line_error(excinfo)


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        ("<annotation><size><width>4", "malformed XML"),
        (_xml(40, 30, [("dog", 1, 1, 9, 9)]).replace("<ymax>9</ymax>", ""), "bndbox/ymax"),
        (_xml(40, 30, [("dog", 1, 1, "nine", 9)]), "'nine'"),
        (_xml(40, 30, []).replace("<height>30</height>", ""), "size/height"),
        (_xml(40, 30, [("dog", 1, 1, 9, 9), ("unicorn", 1, 1, 9, 9)]), "unknown class 'unicorn'"),
    ],
)
def test_bad_annotation_names_the_file_and_the_problem(tmp_path: Path, xml: str, expected: str) -> None:
    voc = write_voc(tmp_path, "2007", {"000007": xml})
    with pytest.raises(UsageError) as excinfo:
        read_voc([voc], "trainval")
    message = _one_line_error(excinfo)
    assert str(voc / "Annotations" / "000007.xml") in message and expected in message


def test_listed_image_without_annotation_file(tmp_path: Path) -> None:
    voc = write_voc(tmp_path, "2007", {"a": _xml(40, 30, [])})
    (voc / "ImageSets" / "Main" / "trainval.txt").write_text("a\nb\n")
    with pytest.raises(UsageError, match="b.xml"):
        read_voc([voc], "trainval")


def test_unreadable_image_names_the_file(tmp_path: Path) -> None:
    voc = write_voc(tmp_path, "2007", {"a": _xml(40, 30, [("dog", 1, 1, 9, 9)])})
    (voc / "JPEGImages" / "a.jpg").write_bytes(b"not a jpeg")
    dataset = read_voc([voc], "trainval")
    with pytest.raises(UsageError) as excinfo:
        dataset[0]
    assert str(voc / "JPEGImages" / "a.jpg") in _one_line_error(excinfo)


def test_ground_truth_is_not_affected_by_transforms(tmp_path: Path) -> None:
    voc = write_voc(tmp_path, "2007", {"a": _xml(40, 30, [("dog", 1, 1, 20, 10)])})
    dataset = build_dataset("voc2007-trainval", tmp_path, train=False, image_size=80)
    _, target = dataset[0]
    assert torch.allclose(target["boxes"], torch.tensor([[0.0, 0.0, 40.0, 20.0]]))
    assert dataset.ground_truth(0)["boxes"].tolist() == [[0, 0, 20, 10]]
    assert voc.is_dir()
