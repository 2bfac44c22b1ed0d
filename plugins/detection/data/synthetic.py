"""A synthetic shapes dataset written in both VOC and COCO layouts, so it exercises both readers.

Layout under the directory given to :func:`ensure_synthetic` (the same as a real data root)::

    VOCdevkit/VOCsynthetic/{Annotations, ImageSets/Main/{train,val}.txt, JPEGImages}
    annotations/instances_{train,val}.json
    images/{train,val}/          hard links to the JPEGs above
    synthetic.json               the generation parameters (written last)

Every image is drawn from its own generator seeded with ``(seed, split, index)``, so the output
is a pure function of the parameters. Several processes may ask for the same new dataset at once
(the ranks of a multi-process run): one generates it, the others wait and reuse it.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from dnn_suite.errors import UsageError

from .shapes import SHAPE_CLASSES, render

GENERATOR_VERSION = 1  # bump when the drawing changes, so that old copies are regenerated
SPLITS = ("train", "val")
VOC_DIR = Path("VOCdevkit", "VOCsynthetic")
MARKER = "synthetic.json"


def synthetic_dir(data_root: Path, *, num_train: int, num_val: int, image_size: int, seed: int) -> Path:
    """Where the synthetic dataset of these parameters lives under a data root: one folder per
    parameter set, so runs that ask for different sets (another image size, a sweep beside the
    main job) never replace the images another process is reading."""
    return data_root / "synthetic" / f"v{GENERATOR_VERSION}-{image_size}px-{num_train}+{num_val}-seed{seed}"


def ensure_synthetic(
    root: Path, *, num_train: int = 512, num_val: int = 128, image_size: int = 256, seed: int = 0
) -> Path:
    """Generate the dataset in ``root`` unless it already holds one made with the same parameters.

    Generation happens in a temporary sibling directory renamed into place at the end, so an
    interrupted run never leaves a half-written dataset behind; checking and generating hold an
    exclusive lock on the parent directory, so concurrent callers never replace each other's
    data. ``image_size`` is the longer side.
    """
    params = {
        "version": GENERATOR_VERSION,
        "num_train": num_train,
        "num_val": num_val,
        "image_size": image_size,
        "seed": seed,
    }
    if image_size < 32 or num_train < 0 or num_val < 0:
        raise UsageError(
            f"synthetic dataset: expected image_size >= 32 and image counts >= 0, "
            f"got image_size={image_size}, num_train={num_train}, num_val={num_val}"
        )
    if _marker(root) == params:
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with _locked(root.parent):
        if _marker(root) == params:  # another process made it while this one waited for the lock
            return root
        if root.exists() and _marker(root) is None and any(root.iterdir()):
            raise UsageError(f"{root} is not a synthetic dataset (no {MARKER}); "
                             "expected an empty or absent directory")
        staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
        try:
            for split_index, (split, count) in enumerate(zip(SPLITS, (num_train, num_val))):
                rngs = [np.random.default_rng([seed, split_index, i]) for i in range(count)]
                _write_split(staging, split, rngs, image_size)
            (staging / MARKER).write_text(json.dumps(params, indent=2))
            if root.exists():
                shutil.rmtree(root)
            os.rename(staging, root)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return root


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``directory`` itself: no lock file is left behind, and the
    kernel releases the lock when its holder exits, even if it is killed."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def _marker(root: Path) -> dict | None:
    try:
        return json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return None


def _write_split(root: Path, split: str, rngs: list[np.random.Generator], image_size: int) -> None:
    voc = root / VOC_DIR
    for sub in ("Annotations", "ImageSets/Main", "JPEGImages"):
        (voc / sub).mkdir(parents=True, exist_ok=True)
    (root / "images" / split).mkdir(parents=True)
    (root / "annotations").mkdir(exist_ok=True)
    names, coco_images, coco_annotations = [], [], []
    for index, rng in enumerate(rngs):
        name = f"{split}_{index:06d}"
        image, boxes, labels = render(rng, image_size)
        jpeg = voc / "JPEGImages" / f"{name}.jpg"
        image.save(jpeg, quality=90)
        os.link(jpeg, root / "images" / split / jpeg.name)
        _voc_xml(name, image.size, boxes, labels).write(voc / "Annotations" / f"{name}.xml")
        names.append(name)
        coco_images.append({"id": index + 1, "file_name": jpeg.name, "width": image.width, "height": image.height})
        for (x1, y1, x2, y2), label in zip(boxes.tolist(), labels.tolist()):
            coco_annotations.append(
                {
                    "id": len(coco_annotations) + 1,
                    "image_id": index + 1,
                    "category_id": label + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
    (voc / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(f"{n}\n" for n in names))
    categories = [{"id": k + 1, "name": name} for k, name in enumerate(SHAPE_CLASSES)]
    coco = {"images": coco_images, "annotations": coco_annotations, "categories": categories}
    (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(coco))


def _voc_xml(name: str, size: tuple[int, int], boxes: np.ndarray, labels: np.ndarray) -> ET.ElementTree:
    """VOC annotation; the XML's 1-based inclusive pixel indices are ``x1 + 1 .. x2`` (see voc.py)."""
    root = ET.Element("annotation")
    ET.SubElement(root, "filename").text = f"{name}.jpg"
    size_el = ET.SubElement(root, "size")
    for key, value in zip(("width", "height", "depth"), (*size, 3)):
        ET.SubElement(size_el, key).text = str(value)
    for (x1, y1, x2, y2), label in zip(boxes.tolist(), labels.tolist()):
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = SHAPE_CLASSES[label]
        ET.SubElement(obj, "difficult").text = "0"
        box = ET.SubElement(obj, "bndbox")
        for key, value in zip(("xmin", "ymin", "xmax", "ymax"), (x1 + 1, y1 + 1, x2, y2)):
            ET.SubElement(box, key).text = str(value)
    return ET.ElementTree(root)
