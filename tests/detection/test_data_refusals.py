"""Bad VOC and COCO inputs are refused when the dataset is read, naming the file, the entry and the
field, before a model is built: empty image sets and files, duplicate ids, boxes of NaN, infinite or
negative sizes, wrong types, a VOC folder one level off, images not where the spec says."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from own_data import write_own_coco, write_own_voc
from dnn_suite.errors import UsageError
from dnn_suite_detection.data.sources import parse_source, read_source, split_source


def _refusal(spec: str) -> str:
    with pytest.raises(UsageError) as refused:
        source = parse_source(spec)
        read_source(split_source(source, "train") or source, None)
    message = str(refused.value)
    assert "\n" not in message and "Error" not in message
    return message


@pytest.fixture(scope="module")
def coco(tmp_path_factory) -> tuple[Path, dict[str, Any]]:
    """A COCO file of two images (ids 1, 2) with annotations ids 1..n, and its parsed contents."""
    root = write_own_coco(tmp_path_factory.mktemp("coco"), {"val": 2})
    path = root / "annotations" / "instances_val.json"
    return path, json.loads(path.read_text())


def _changed(coco, tmp_path: Path, change) -> str:
    """The spec of a copy of ``coco`` (its images folder given) with ``change`` applied to its contents."""
    path, data = coco
    data = json.loads(json.dumps(data))
    change(data)
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(data))  # NaN and Infinity as Python's json writes them
    return f"coco:{changed}:{path.parents[1] / 'images' / 'val'}"


@pytest.mark.parametrize("change, expected", [
    (lambda d: d.update(images=[], annotations=[]), "no images under 'images'; expected at least one"),
    (lambda d: d.update(categories=[], annotations=[]), "no categories under 'categories'; expected at least one"),
    (lambda d: d["images"].append(dict(d["images"][0])),
     "images[2] has id 1, as images[0] does; expected each image id once"),
    (lambda d: d["annotations"][1].update(id=1),
     "annotations[1] has id 1, as annotations[0] does; expected each annotation id once"),
    (lambda d: d["annotations"][0]["bbox"].__setitem__(0, float("nan")),
     "annotations[0].bbox is [nan, "),
    (lambda d: d["annotations"][0]["bbox"].__setitem__(3, float("inf")), "annotations[0].bbox is ["),
    (lambda d: d["annotations"][0]["bbox"].__setitem__(2, -3), "annotations[0].bbox is ["),
    (lambda d: d["annotations"][0].update(bbox=[True, 1, 2, 3]), "annotations[0].bbox is [True, 1, 2, 3]"),
    (lambda d: d["annotations"][0].pop("image_id"), "annotations[0] has no 'image_id' (annotation id 1)"),
    (lambda d: d["annotations"][0].update(category_id=[5]),
     "annotations[0].category_id is [5] (annotation id 1); expected an integer"),
    (lambda d: d["annotations"][0].update(iscrowd="yes"), "annotations[0].iscrowd is 'yes' (annotation id 1); "
                                                         "expected 0 or 1"),
    (lambda d: d["images"][0].pop("id"), "images[0] has no 'id'"),
    (lambda d: d["images"][1].update(id="2"), "images[1].id is '2'; expected an integer"),
    (lambda d: d["images"][0].update(file_name=7), "images[0].file_name is 7 (image id 1)"),
    (lambda d: d["images"][0].update(file_name="../../secret.jpg"),
     "images[0].file_name is '../../secret.jpg' (image id 1); expected a relative path inside the images folder"),
    (lambda d: d["images"][0].update(width=0), "images[0].width is 0 (image id 1); expected a positive number"),
    (lambda d: d["images"][1].update(height="64"), "images[1].height is '64' (image id 2)"),
    (lambda d: d["categories"].__setitem__(0, 5), "categories[0] is 5; expected an object"),
    (lambda d: d["categories"][1].update(id=5), "categories[1] has id 5, as categories[0] does"),
    (lambda d: d["categories"][0].update(id="5"), "categories[0].id is '5'; expected an integer"),
    (lambda d: d["categories"][2].update(name="person"),
     "categories[2].name is 'person', as categories[0].name is; expected each class name once"),
])
def test_a_bad_coco_entry_is_refused_naming_the_file_entry_and_field(coco, tmp_path, change, expected):
    spec = _changed(coco, tmp_path, change)
    message = _refusal(spec)
    assert message.startswith(f"{tmp_path / 'changed.json'}: ") and expected in message, message


def test_a_nan_box_is_named_with_what_a_box_must_be(coco, tmp_path):
    message = _refusal(_changed(coco, tmp_path, lambda d: d["annotations"][0]["bbox"].__setitem__(1, float("nan"))))
    assert re.fullmatch(r".*changed\.json: annotations\[0\]\.bbox is \[\d+, nan, \d+, \d+\] \(annotation id 1\); "
                        r"expected \[x, y, w, h\] of finite numbers, w and h not negative", message), message


@pytest.fixture(scope="module")
def voc(tmp_path_factory) -> Path:
    return write_own_voc(tmp_path_factory.mktemp("voc") / "VOCdevkit" / "VOC2007", {"trainval": 2, "test": 1})


def test_an_empty_image_set_is_refused(tmp_path):
    voc = write_own_voc(tmp_path / "voc", {"trainval": 2})
    (voc / "ImageSets" / "Main" / "empty.txt").write_text("\n")
    assert _refusal(f"voc:{voc}:empty") == f"{voc / 'ImageSets/Main/empty.txt'}: lists no images; " \
                                          "expected one image name a line"


def test_an_unknown_image_set_lists_those_there(voc):
    assert _refusal(f"voc:{voc}:tran") == f"VOC image set not found: expected the file " \
                                         f"{voc / 'ImageSets/Main/tran.txt'} (the image sets there: test, trainval)"


def test_a_per_class_image_set_says_which_sets_to_give(tmp_path):
    voc = write_own_voc(tmp_path / "voc", {"trainval": 2})
    (voc / "ImageSets" / "Main" / "red_trainval.txt").write_text("img0000  1\nimg0001 -1\n")
    assert "red_trainval.txt: a per-class image set (a name and 1, 0 or -1 a line); expected one of the sets of " \
           "image names, such as trainval or test" in _refusal(f"voc:{voc}:red_trainval")


def test_an_image_set_that_is_not_text_is_refused(tmp_path):
    voc = write_own_voc(tmp_path / "voc", {"trainval": 2})
    (voc / "ImageSets" / "Main" / "trainval.txt").write_bytes(b"\xff\xfe\x00\x81")
    assert _refusal(f"voc:{voc}") == f"cannot read VOC image set {voc / 'ImageSets/Main/trainval.txt'}: " \
                                     "byte 0 is not UTF-8 text"


@pytest.mark.parametrize("pattern, replacement, expected", [
    (r"<xmin>\d+", "<xmin>nan", "<bndbox/xmin> is 'nan'; expected a finite number"),
    (r"<ymax>\d+", "<ymax>inf", "<bndbox/ymax> is 'inf'; expected a finite number"),
    (r"<width>\d+", "<width>0", "<size/width> is '0'; expected a positive number"),
    (r"<height>\d+", "<height>-64", "<size/height> is '-64'; expected a positive number"),
    (r"<name>\w+", "<name> ", "object 0 has no <name>; expected its class name"),
])
def test_a_bad_voc_annotation_is_refused_naming_the_file_and_tag(tmp_path, pattern, replacement, expected):
    voc = write_own_voc(tmp_path / "voc", {"trainval": 2})
    xml = voc / "Annotations" / "img0001.xml"
    xml.write_text(re.sub(pattern, replacement, xml.read_text(), count=1))
    assert _refusal(f"voc:{voc}") == f"{xml}: {expected}"


@pytest.mark.parametrize("given, give", [
    ("", "VOCdevkit/VOC2007"),  # the data root above VOCdevkit
    ("VOCdevkit", "VOCdevkit/VOC2007"),  # one level too high
    ("VOCdevkit/VOC2007/JPEGImages", "VOCdevkit/VOC2007"),  # one level too low
    ("VOCdevkit/VOC2007/ImageSets/Main", "VOCdevkit/VOC2007"),  # two levels too low
])
def test_a_voc_folder_one_level_off_names_the_folder_to_give(voc, given, give):
    root = voc.parents[1]
    folder = root / given if given else root
    for part in ("", ":test"):
        assert _refusal(f"voc:{folder}{part}") == (
            f"dataset voc:{folder}{part}: not a VOC folder (no Annotations/ and JPEGImages/ in it); "
            f"give voc:{root / give}{part}")


def test_a_folder_without_voc_data_near_says_what_it_must_hold(tmp_path):
    assert _refusal(f"voc:{tmp_path}") == f"dataset voc:{tmp_path}: not a VOC folder (no Annotations/ and " \
                                          "JPEGImages/ in it); expected the folder that holds them, such as " \
                                          "VOCdevkit/VOC2007"
