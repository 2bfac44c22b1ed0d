"""Pascal VOC detection data: ``VOCdevkit/VOC<year>/{Annotations, ImageSets/Main, JPEGImages}``.

Pixel convention: VOC XML coordinates are 1-based inclusive pixel indices, so a box
``xmin..xmax`` covers the continuous interval ``[xmin - 1, xmax]``. The reader returns those
continuous coordinates (the convention torchvision and COCO use); IoU computed on them without
the devkit's "+1" equals the devkit's IoU on the raw XML integers.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from dnn_suite.errors import UsageError, reason

from .dataset import BoxRepairs, DetectionDataset, ImageRecord, Transform

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)


def parse_voc_xml(
    path: Path, class_index: Mapping[str, int]
) -> tuple[float, float, np.ndarray, np.ndarray, np.ndarray]:
    """Read one annotation file: ``(width, height, boxes [n, 4], labels [n], difficult [n])``."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as error:
        raise UsageError(f"{path}: malformed XML: {error}") from None
    width, height = (_number(root, f"size/{key}", path, positive=True) for key in ("width", "height"))
    boxes, labels, difficult = [], [], []
    for k, obj in enumerate(root.iter("object")):
        name = (obj.findtext("name") or "").strip()
        if name not in class_index:
            known = ", ".join(class_index)
            raise UsageError(f"{path}: object {k} has unknown class {name!r}; expected one of {known}")
        xmin, ymin, xmax, ymax = (_number(obj, f"bndbox/{c}", path) for c in ("xmin", "ymin", "xmax", "ymax"))
        boxes.append((xmin - 1, ymin - 1, xmax, ymax))
        labels.append(class_index[name])
        difficult.append((obj.findtext("difficult") or "0").strip() == "1")
    return (
        width,
        height,
        np.array(boxes, dtype=np.float32).reshape(-1, 4),
        np.array(labels, dtype=np.int64),
        np.array(difficult, dtype=bool),
    )


def _number(element: ET.Element, key: str, path: Path, positive: bool = False) -> float:
    """The finite number at ``key`` under ``element`` (``positive``: above zero)."""
    text = element.findtext(key)
    if text is None:
        raise UsageError(f"{path}: malformed XML: <{element.tag}> has no <{key}>")
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or (positive and value <= 0):
        expected = "a positive number" if positive else "a finite number"
        raise UsageError(f"{path}: <{key}> is {text.strip()!r}; expected {expected}")
    return value


def image_names(set_file: Path) -> list[str]:
    """The image names an image set lists, one a line; at least one."""
    try:
        lines = set_file.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        sets = ", ".join(sorted(p.stem for p in set_file.parent.glob("*.txt") if "_" not in p.stem))
        raise UsageError(f"VOC image set not found: expected the file {set_file}"
                         + (f" (the image sets there: {sets})" if sets else "")) from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read VOC image set {set_file}: {reason(error)}") from None
    rows = [line.split() for line in lines if line.strip()]
    if not rows:
        raise UsageError(f"{set_file}: lists no images; expected one image name a line")
    if any(len(row) > 1 for row in rows):
        raise UsageError(f"{set_file}: a per-class image set (a name and 1, 0 or -1 a line); "
                         "expected one of the sets of image names, such as trainval or test")
    return [name for name, in rows]


def _require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise UsageError(f"{what} not found: expected the directory {path}")
    return path


def _image_files(images: Path) -> dict[str, Path]:
    """Image name -> file in ``JPEGImages``: ``.jpg``, else ``.jpeg``, else ``.png`` (any letter case)."""
    preference = {".jpg": 0, ".jpeg": 1, ".png": 2}
    candidates = sorted((preference[p.suffix.lower()], p) for p in images.iterdir() if p.suffix.lower() in preference)
    files: dict[str, Path] = {}
    for _, path in candidates:
        files.setdefault(path.stem, path)
    return files


def read_voc(
    voc_dirs: Sequence[Path],
    image_set: str,
    class_names: Sequence[str] = VOC_CLASSES,
    transform: Transform | None = None,
) -> DetectionDataset:
    """The images listed in ``ImageSets/Main/<image_set>.txt`` of each VOC directory, concatenated.

    ``image_id`` is the image's position in the returned dataset.
    """
    class_index = {name: i for i, name in enumerate(class_names)}
    records: list[ImageRecord] = []
    for voc_dir in voc_dirs:
        _require_dir(voc_dir, "VOC data")
        annotations = _require_dir(voc_dir / "Annotations", "VOC annotations")
        images = _require_dir(voc_dir / "JPEGImages", "VOC images")
        set_file = _require_dir(voc_dir / "ImageSets" / "Main", "VOC image sets") / f"{image_set}.txt"
        repairs = BoxRepairs()
        image_files = _image_files(images)
        for name in image_names(set_file):
            xml_path = annotations / f"{name}.xml"
            if not xml_path.is_file():
                raise UsageError(f"{xml_path}: annotation of image {name!r} listed in {set_file} does not exist")
            width, height, boxes, labels, difficult = parse_voc_xml(xml_path, class_index)
            boxes, keep = repairs.fit(boxes, width, height)
            image_path = image_files.get(name, images / f"{name}.jpg")  # a missing image is found when read
            records.append(ImageRecord(image_path, len(records), boxes[keep], labels[keep], difficult[keep]))
        repairs.warn(set_file)
    return DetectionDataset(records, class_names, transform)
