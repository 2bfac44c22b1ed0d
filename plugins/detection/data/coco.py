"""COCO detection data: ``annotations/instances_<split>.json`` and ``images/<split>/``.

Category ids (1..90 with gaps for COCO 2017) become contiguous labels 0..C-1 in id order;
``dataset.category_ids[label]`` maps back. Crowd annotations are left out of the targets
(COCOeval still reads them from the JSON, where they mark regions to ignore).
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Sequence
from pathlib import Path
import numpy as np
from pycocotools.coco import COCO

from dnn_suite.errors import UsageError

from .coco_checks import check_coco
from .dataset import BoxRepairs, DetectionDataset, ImageRecord, Transform


def load_coco_json(path: Path) -> COCO:
    """Parse and index a COCO annotation file, reporting a bad file as a UsageError.

    Segmentations are dropped: neither training nor bbox evaluation needs them, and they are
    most of the memory of ``instances_train2017.json``.
    """
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise UsageError(f"COCO annotations not found: expected the file {path}") from None
    except OSError as error:
        raise UsageError(f"cannot read COCO annotations {path}: {error.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: malformed JSON: {error}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: malformed COCO JSON: expected an object at the top level")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise UsageError(f"{path}: malformed COCO JSON: expected a list under the key {key!r}")
    check_coco(data, path)
    for ann in data["annotations"]:
        ann.pop("segmentation", None)
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):  # createIndex prints progress lines
        coco.createIndex()
    return coco


class COCODataset(DetectionDataset):
    """A :class:`DetectionDataset` that remembers its JSON and how labels map to category ids."""

    def __init__(
        self,
        records: Sequence[ImageRecord],
        class_names: Sequence[str],
        transform: Transform | None,
        annotation_file: Path,
        category_ids: Sequence[int],
    ) -> None:
        super().__init__(records, class_names, transform)
        self.annotation_file = annotation_file
        self.category_ids = tuple(category_ids)


def read_coco(annotation_file: Path, image_dir: Path, transform: Transform | None = None,
              images_hint: str = "") -> COCODataset:
    """All images of one COCO annotation file (images without annotations included); at least one
    image and one category, the first image in ``image_dir``. ``images_hint`` ends a message about
    the images folder (how to give another).

    ``image_id`` is the COCO image id, as COCOeval expects.
    """
    if not image_dir.is_dir():
        raise UsageError(f"COCO images not found: expected the directory {image_dir}{images_hint}")
    coco = load_coco_json(annotation_file)
    if not coco.dataset["images"]:
        raise UsageError(f"{annotation_file}: no images under 'images'; expected at least one")
    if not coco.dataset["categories"]:
        raise UsageError(f"{annotation_file}: no categories under 'categories'; expected at least one")
    first = coco.dataset["images"][0]["file_name"]
    if not (image_dir / first).is_file():
        raise UsageError(f"{annotation_file}: its first image {first} is not in {image_dir}{images_hint}")
    categories = sorted(coco.dataset["categories"], key=lambda c: c["id"])
    label_of = {c["id"]: label for label, c in enumerate(categories)}
    orphans = set(coco.imgToAnns) - set(coco.imgs)
    if orphans:
        raise UsageError(f"{annotation_file}: annotations refer to image id {min(orphans)}, not in 'images'")
    repairs = BoxRepairs()
    records = []
    for image in coco.dataset["images"]:
        image_id, file_name, width, height = (image[key] for key in ("id", "file_name", "width", "height"))
        anns = [ann for ann in coco.imgToAnns[image_id] if not ann.get("iscrowd", 0)]
        for ann in anns:
            if ann.get("category_id") not in label_of:
                raise UsageError(
                    f"{annotation_file}: annotation id {ann.get('id')} has unknown category_id "
                    f"{ann.get('category_id')!r}; expected one of {sorted(label_of)}"
                )
        xywh = np.array([ann["bbox"] for ann in anns], dtype=np.float32).reshape(-1, 4)
        boxes, keep = repairs.fit(np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1), width, height)
        labels = np.array([label_of[ann["category_id"]] for ann in anns], dtype=np.int64)
        difficult = np.zeros(int(keep.sum()), dtype=bool)
        records.append(ImageRecord(image_dir / file_name, image_id, boxes[keep], labels[keep], difficult))
    repairs.warn(annotation_file)
    names = [str(c.get("name", c["id"])) for c in categories]
    return COCODataset(records, names, transform, annotation_file, [c["id"] for c in categories])
