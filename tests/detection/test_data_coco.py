"""The COCO reader on small hand-written annotation files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from dnn_suite.errors import UsageError
from dnn_suite_detection.data import build_dataset, read_coco


def _coco() -> dict[str, Any]:
    """Three images; category ids 3 and 7 (not contiguous); one crowd box."""
    return {
        "images": [
            {"id": 42, "file_name": "a.jpg", "width": 40, "height": 30},
            {"id": 7, "file_name": "b.jpg", "width": 40, "height": 30},
            {"id": 9, "file_name": "empty.jpg", "width": 40, "height": 30},
        ],
        "annotations": [
            {"id": 1, "image_id": 42, "category_id": 7, "bbox": [1, 2, 10, 5], "area": 50, "iscrowd": 0},
            {"id": 2, "image_id": 42, "category_id": 3, "bbox": [0, 0, 40, 30], "area": 1200, "iscrowd": 1},
            {"id": 3, "image_id": 7, "category_id": 3, "bbox": [5.5, 6, 4, 4], "area": 16, "iscrowd": 0},
            {"id": 4, "image_id": 42, "category_id": 3, "bbox": [20, 10, 5, 5], "area": 25},
        ],
        "categories": [{"id": 7, "name": "kite"}, {"id": 3, "name": "car"}],
    }


def write_coco(root: Path, data: Any, split: str = "val2017") -> Path:
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "images" / split).mkdir(parents=True, exist_ok=True)
    for image in data["images"] if isinstance(data, dict) else []:
        Image.new("RGB", (40, 30), (100, 100, 100)).save(root / "images" / split / image["file_name"])
    path = root / "annotations" / f"instances_{split}.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_contiguous_labels_crowd_ignored_and_xyxy(tmp_path: Path) -> None:
    write_coco(tmp_path, _coco())
    dataset = build_dataset("coco2017-val", tmp_path, train=False, image_size=64)
    assert dataset.class_names == ("car", "kite")  # in category-id order
    assert dataset.category_ids == (3, 7)
    assert dataset.image_ids == [42, 7, 9]
    a = dataset.ground_truth(0)
    assert a["boxes"].tolist() == [[1, 2, 11, 7], [20, 10, 25, 15]]  # the crowd box is not a target
    assert a["labels"].tolist() == [1, 0] and a["difficult"].tolist() == [False, False]
    assert dataset.ground_truth(1)["boxes"].tolist() == [[5.5, 6, 9.5, 10]]
    assert dataset.ground_truth(2)["boxes"].shape == (0, 4)  # images without annotations are kept
    image, target = dataset[0]
    assert image.shape == (3, 64, 64) and target["image_id"] == 42 and target["orig_size"] == (30, 40)


def test_boxes_are_clipped_with_one_warning(tmp_path: Path) -> None:
    data = _coco()
    data["annotations"][0]["bbox"] = [-4, 2, 10, 5]
    data["annotations"][2]["bbox"] = [40, 6, 4, 4]
    annotation_file = write_coco(tmp_path, data)
    with pytest.warns(UserWarning, match="1 boxes clipped to their image, 1 boxes with zero area dropped") as record:
        dataset = read_coco(annotation_file, tmp_path / "images" / "val2017")
    assert len(record) == 1
    assert dataset.ground_truth(0)["boxes"].tolist()[0] == [0, 2, 6, 7]
    assert dataset.ground_truth(1)["boxes"].shape == (0, 4)


def _mutate(change: str) -> Any:
    data = _coco()
    if change == "truncated":
        return json.dumps(data)[:-20]
    if change == "no categories":
        del data["categories"]
    elif change == "unknown category":
        data["annotations"][2]["category_id"] = 5
    elif change == "bad bbox":
        data["annotations"][1]["bbox"] = [1, 2, 3]
    elif change == "image without width":
        del data["images"][1]["width"]
    elif change == "orphan annotation":
        data["annotations"][0]["image_id"] = 1000
    return data


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("truncated", "malformed JSON"),
        ("no categories", "'categories'"),
        ("unknown category", "category_id 5"),
        ("bad bbox", "annotations[1].bbox"),
        ("image without width", "images[1] has no 'width'"),
        ("orphan annotation", "image id 1000"),
    ],
)
def test_bad_annotation_file_names_the_file_and_the_problem(tmp_path: Path, change: str, expected: str) -> None:
    annotation_file = write_coco(tmp_path, _mutate(change))
    with pytest.raises(UsageError) as excinfo:
        read_coco(annotation_file, tmp_path / "images" / "val2017")
    message = str(excinfo.value)
    assert "\n" not in message and str(annotation_file) in message and expected in message


def test_missing_files_name_the_expected_path(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="images/train2017"):
        build_dataset("coco2017-train", tmp_path, train=True, image_size=64)
    (tmp_path / "images" / "train2017").mkdir(parents=True)
    with pytest.raises(UsageError, match="annotations/instances_train2017.json"):
        build_dataset("coco2017-train", tmp_path, train=True, image_size=64)
