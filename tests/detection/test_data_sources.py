"""``voc:DIR[:IMAGESET]`` and ``coco:FILE[:IMAGES]``: parsing, default splits, classes, images."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from own_data import COCO_NAMED, OWN_CLASSES, write_own_coco, write_own_voc
from dnn_suite.errors import UsageError
from dnn_suite_detection.data.sources import DatasetSource, parse_source, read_source, split_source


def test_parse_specs():
    assert parse_source("voc2007-test") is None
    assert parse_source("voc:/data/mine") == DatasetSource("voc", Path("/data/mine"), "")
    assert parse_source("voc:/data/mine:val") == DatasetSource("voc", Path("/data/mine"), "val")
    assert parse_source("coco:a/b.json:imgs") == DatasetSource("coco", Path("a/b.json"), "imgs")
    assert str(parse_source("coco:a/b.json:imgs")) == "coco:a/b.json:imgs"
    with pytest.raises(UsageError, match="expected voc:DIR"):
        parse_source("voc:")


def test_voc_directory_splits_classes_and_png_images(tmp_path):
    voc = write_own_voc(tmp_path / "mine", {"train": 3, "val": 2})
    source = parse_source(f"voc:{voc}")
    assert split_source(source, "train") == DatasetSource("voc", voc, "train")  # no trainval: train
    assert split_source(source, "eval") == DatasetSource("voc", voc, "val")  # no test: val
    dataset = read_source(split_source(source, "train"), None)
    assert dataset.class_names == tuple(sorted(OWN_CLASSES)) and len(dataset) == 3
    assert [p.suffix for p in dataset.paths] == [".jpg", ".jpg", ".png"]
    image, target = dataset[2]
    assert image.shape == (3, 64, 64) and len(target["labels"]) >= 1
    assert split_source(DatasetSource("voc", voc, "val"), "train").part == "val"  # a named set is kept


def test_voc_directory_without_eval_set(tmp_path):
    voc = write_own_voc(tmp_path / "mine", {"trainval": 2})
    assert split_source(parse_source(f"voc:{voc}"), "eval") is None


def test_given_classes_set_the_order_and_an_unknown_name_names_the_file(tmp_path):
    voc = write_own_voc(tmp_path / "mine", {"trainval": 4})
    source = DatasetSource("voc", voc, "trainval")
    assert read_source(source, None, ["red", "green", "blue"]).class_names == ("red", "green", "blue")
    with pytest.raises(UsageError, match=r"mine/Annotations/img\d+\.xml: object \d has unknown class 'blue'"):
        read_source(source, None, ["red", "green"])


def test_coco_file_images_folder_and_val_beside_train(tmp_path):
    root = write_own_coco(tmp_path / "mine", {"train": 3, "val": 2})
    source = parse_source(f"coco:{root / 'annotations' / 'instances_train.json'}")
    dataset = read_source(split_source(source, "train"), None)
    assert dataset.class_names == COCO_NAMED and dataset.category_ids == (5, 7, 9)
    assert dataset.paths[0].parent == root / "images" / "train" and dataset[0][0].shape == (3, 64, 64)
    assert split_source(source, "eval").path == root / "annotations" / "instances_val.json"
    assert len(read_source(split_source(source, "eval"), None)) == 2


def test_coco_images_folder_given_explicitly_and_missing(tmp_path):
    root = write_own_coco(tmp_path / "mine", {"val": 2})
    shutil.move(root / "images" / "val", tmp_path / "pictures")
    json_file = root / "annotations" / "instances_val.json"
    assert len(read_source(parse_source(f"coco:{json_file}:{tmp_path / 'pictures'}"), None)) == 2
    with pytest.raises(UsageError) as refused:  # defaults to the JSON's folder: no images there
        read_source(parse_source(f"coco:{json_file}"), None)
    assert str(refused.value) == (f"{json_file}: its first image 000001.jpg is not in {json_file.parent}; "
                                  f"give the folder of its images: coco:{json_file}:IMAGES")
    with pytest.raises(UsageError) as refused:
        read_source(parse_source(f"coco:{json_file}:{root}"), None)
    assert str(refused.value) == f"{json_file}: its first image 000001.jpg is not in {root} (the IMAGES part of " \
                                 f"coco:{json_file}:{root})"
    with pytest.raises(UsageError) as refused:
        read_source(parse_source(f"coco:{json_file}:{tmp_path / 'none'}"), None)
    assert str(refused.value) == f"COCO images not found: expected the directory {tmp_path / 'none'} (the IMAGES " \
                                 f"part of coco:{json_file}:{tmp_path / 'none'})"
