"""Small user datasets in the VOC and COCO layouts: coloured boxes on noise, three classes
(the fixtures `own_voc` and `own_coco` in conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

OWN_CLASSES = ("red", "green", "blue")  # not COCO's: effdet's 90-class weights do not know them
COCO_NAMED = ("person", "dog", "car")  # COCO's: effdet's 90-class weights have a row for each
COLOURS = ((220, 40, 40), (40, 200, 40), (40, 60, 220))


def _objects(rng: np.random.Generator, size: int, classes) -> list[tuple[int, int, int, int, int]]:
    """(class index, x1, y1, x2, y2) of one to three boxes."""
    objects = []
    for _ in range(rng.integers(1, 3, endpoint=True)):
        w, h = rng.integers(size // 5, size // 2, size=2)
        x, y = rng.integers(0, size - w), rng.integers(0, size - h)
        objects.append((int(rng.integers(len(classes))), int(x), int(y), int(x + w), int(y + h)))
    return objects


def _image(rng: np.random.Generator, size: int, objects) -> Image.Image:
    pixels = rng.integers(0, 80, size=(size, size, 3), dtype=np.uint8)
    for label, x1, y1, x2, y2 in objects:
        pixels[y1:y2, x1:x2] = COLOURS[label]
    return Image.fromarray(pixels)


def write_own_voc(directory: Path, sets: dict[str, int], size: int = 64, seed: int = 0,
                  classes=OWN_CLASSES) -> Path:
    """A VOC-layout directory (not under VOCdevkit) with ``sets`` = {image set: number of images};
    every third image is a .png, the others .jpg."""
    rng = np.random.default_rng(seed)
    for sub in ("Annotations", "ImageSets/Main", "JPEGImages"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    index = 0
    for image_set, count in sets.items():
        names = []
        for _ in range(count):
            name = f"img{index:04d}"
            objects = _objects(rng, size, classes)
            suffix = ".png" if index % 3 == 2 else ".jpg"
            _image(rng, size, objects).save(directory / "JPEGImages" / f"{name}{suffix}")
            boxes = "".join(f"<object><name>{classes[n]}</name><difficult>0</difficult><bndbox><xmin>{x1 + 1}</xmin>"
                            f"<ymin>{y1 + 1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
                            for n, x1, y1, x2, y2 in objects)
            (directory / "Annotations" / f"{name}.xml").write_text(
                f"<annotation><size><width>{size}</width><height>{size}</height></size>{boxes}</annotation>")
            names.append(name)
            index += 1
        (directory / "ImageSets" / "Main" / f"{image_set}.txt").write_text("\n".join(names) + "\n")
    return directory


def write_own_coco(root: Path, splits: dict[str, int], size: int = 64, seed: int = 1,
                   classes=COCO_NAMED) -> Path:
    """``root/annotations/instances_<split>.json`` and ``root/images/<split>/``; category ids 5, 7, 9."""
    rng = np.random.default_rng(seed)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    categories = [{"id": 5 + 2 * i, "name": name} for i, name in enumerate(classes)]
    for split, count in splits.items():
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        images, annotations = [], []
        for image_id in range(1, count + 1):
            objects = _objects(rng, size, classes)
            _image(rng, size, objects).save(root / "images" / split / f"{image_id:06d}.jpg")
            images.append({"id": image_id, "file_name": f"{image_id:06d}.jpg", "width": size, "height": size})
            for label, x1, y1, x2, y2 in objects:
                annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": 5 + 2 * label,
                                    "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1),
                                    "iscrowd": 0})
        (root / "annotations" / f"instances_{split}.json").write_text(
            json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return root
