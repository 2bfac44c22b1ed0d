"""What a COCO annotation file must hold before anything indexes it, each refusal naming the file,
the entry and the field.

pycocotools indexes whatever it is given: a missing ``id`` is a KeyError deep inside it, two
images of one id silently merge their annotations, and a NaN or negative box would be clipped
away as "empty" or reach training. So every entry is checked first: images (unique integer ids,
a file name inside the images folder, positive sizes), annotations (unique integer ids, integer
image and category ids, a box of four finite numbers with a width and height not negative) and
categories (unique integer ids, a name if given a string).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any

from dnn_suite.errors import UsageError

BBOX = "[x, y, w, h] of finite numbers, w and h not negative"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _entries(data: dict[str, Any], key: str, path: Path) -> list[dict[str, Any]]:
    entries = data[key]
    for k, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise UsageError(f"{path}: malformed COCO JSON: {key}[{k}] is {_short(entry)}; expected an object")
    return entries


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _require(entry: dict[str, Any], key: str, where: str, path: Path, valid: Callable[[Any], bool],
             expected: str, named: str = "") -> Any:
    """``entry[key]`` if ``valid``; ``where`` is the entry's place in the file (``images[3]``),
    ``named`` its id for the message (`` (image id 7)``)."""
    if key not in entry:
        raise UsageError(f"{path}: malformed COCO JSON: {where} has no {key!r}{named}")
    value = entry[key]
    if not valid(value):
        raise UsageError(f"{path}: {where}.{key} is {_short(value)}{named}; expected {expected}")
    return value


def _unique_ids(entries: list[dict[str, Any]], key: str, path: Path) -> None:
    singular = {"images": "image", "annotations": "annotation", "categories": "category"}[key]
    first: dict[int, int] = {}
    for k, entry in enumerate(entries):
        _require(entry, "id", f"{key}[{k}]", path, _is_int, "an integer")
        j = first.setdefault(entry["id"], k)
        if j != k:
            raise UsageError(f"{path}: {key}[{k}] has id {entry['id']}, as {key}[{j}] does; "
                             f"expected each {singular} id once")


def _inside(name: Any) -> bool:
    return isinstance(name, str) and bool(name) and not PurePath(name).is_absolute() \
        and ".." not in PurePath(name).parts


def check_coco(data: dict[str, Any], path: Path) -> None:
    """Refuse the first entry of ``data`` (a parsed COCO file with lists under its three keys) that
    pycocotools or the reader would misread."""
    images = _entries(data, "images", path)
    _unique_ids(images, "images", path)
    for k, image in enumerate(images):
        where, named = f"images[{k}]", f" (image id {image['id']})"
        _require(image, "file_name", where, path, _inside, "a relative path inside the images folder", named)
        for key in ("width", "height"):
            _require(image, key, where, path, lambda v: _is_number(v) and v > 0, "a positive number", named)
    annotations = _entries(data, "annotations", path)
    _unique_ids(annotations, "annotations", path)
    for k, ann in enumerate(annotations):
        where, named = f"annotations[{k}]", f" (annotation id {ann['id']})"
        for key in ("image_id", "category_id"):
            _require(ann, key, where, path, _is_int, "an integer", named)
        _require(ann, "bbox", where, path, lambda v: isinstance(v, list) and len(v) == 4
                 and all(map(_is_number, v)) and v[2] >= 0 and v[3] >= 0, BBOX, named)
        if "iscrowd" in ann:
            _require(ann, "iscrowd", where, path, lambda v: _is_int(v) and v in (0, 1), "0 or 1", named)
    categories = _entries(data, "categories", path)
    _unique_ids(categories, "categories", path)
    named: dict[str, int] = {}
    for k, category in enumerate(categories):
        if "name" not in category:
            continue
        name = _require(category, "name", f"categories[{k}]", path, lambda v: isinstance(v, str) and bool(v.strip()),
                        "a class name", f" (category id {category['id']})")
        j = named.setdefault(name, k)
        if j != k:
            raise UsageError(f"{path}: categories[{k}].name is {name!r}, as categories[{j}].name is; "
                             "expected each class name once")
