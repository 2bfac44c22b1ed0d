"""Datasets given by location: ``voc:DIR[:IMAGESET]`` and ``coco:ANNOTATIONS.json[:IMAGES_DIR]``.

A VOC source is any directory in the VOC layout (``Annotations/``, ``JPEGImages/`` with .jpg,
.jpeg or .png images, ``ImageSets/Main/<set>.txt``); its classes are the sorted object names of
all its annotation files, unless a class list is given, in which case another name is an error
naming the file. A COCO source is any COCO-format JSON; its classes are its categories.

Without an image set, a VOC source trains on ``trainval`` (else ``train``) and evaluates on
``test`` (else ``val``). A COCO file named ``*train*`` evaluates on the ``val`` file beside it,
when there is one. Without an images directory, a COCO source looks for ``images/<split>/``
and ``<split>/`` next to the annotations folder (the COCO 2017 layouts), else uses the JSON's folder.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dnn_suite.errors import UsageError

from .coco import read_coco
from .dataset import DetectionDataset, Transform
from .voc import read_voc

SCHEMES = ("voc:", "coco:")
_TRAIN_SETS, _EVAL_SETS = ("trainval", "train"), ("test", "val")


@dataclass(frozen=True)
class DatasetSource:
    """A parsed spec: ``kind`` (voc or coco), ``path`` (the directory or JSON), ``part`` (image set
    or images directory; empty for the default)."""

    kind: str
    path: Path
    part: str = ""

    def __str__(self) -> str:
        return f"{self.kind}:{self.path}" + (f":{self.part}" if self.part else "")


def parse_source(spec: str) -> DatasetSource | None:
    """The source a ``voc:``/``coco:`` spec names; None for a dataset name."""
    if not spec.startswith(SCHEMES):
        return None
    kind, rest = spec.split(":", 1)
    path, _, part = rest.partition(":")
    if not path:
        raise UsageError(f"dataset {spec!r}: expected {kind}:{'DIR[:IMAGESET]' if kind == 'voc' else 'FILE[:IMAGES]'}")
    return DatasetSource(kind, Path(path).expanduser(), part)


def _image_sets(directory: Path) -> Path:
    return directory / "ImageSets" / "Main"


def _first_set(source: DatasetSource, candidates: Sequence[str]) -> str | None:
    return next((s for s in candidates if (_image_sets(source.path) / f"{s}.txt").is_file()), None)


def _is_voc_folder(path: Path) -> bool:
    return (path / "Annotations").is_dir() and (path / "JPEGImages").is_dir()


def check_voc_folder(source: DatasetSource) -> None:
    """Refuse a ``voc:`` folder without the VOC layout, naming the folder to give where one is near:
    below it (``VOCdevkit`` given for ``VOCdevkit/VOC2007``, or the folder above ``VOCdevkit``) or
    above it (``VOC2007/JPEGImages`` given)."""
    path = source.path
    if not path.is_dir():
        raise UsageError(f"VOC data not found: expected the directory {path}")
    if _is_voc_folder(path):
        return
    below = sorted(d for pattern in ("*", "VOCdevkit/*") for d in path.glob(pattern) if _is_voc_folder(d))
    above = [d for d in list(path.parents)[:2] if _is_voc_folder(d)]
    part = f":{source.part}" if source.part else ""
    near = " or ".join(f"voc:{d}{part}" for d in (below or above)[:3])
    raise UsageError(f"dataset {source}: not a VOC folder (no Annotations/ and JPEGImages/ in it); "
                     + (f"give {near}" if near else "expected the folder that holds them, such as VOCdevkit/VOC2007"))


def split_source(source: DatasetSource, split: str) -> DatasetSource | None:
    """The source of ``split`` ("train" or "eval") when ``source`` names none; None when it has none."""
    if source.kind == "voc":
        check_voc_folder(source)
        if source.part:
            return source
        image_set = _first_set(source, _TRAIN_SETS if split == "train" else _EVAL_SETS)
        return DatasetSource("voc", source.path, image_set) if image_set else None
    if split == "train" or "train" not in source.path.name:
        return source
    val = source.path.with_name(source.path.name.replace("train", "val"))
    if not val.is_file():
        return None
    return DatasetSource("coco", val, source.part.replace("train", "val") if source.part else "")


def voc_class_names(directory: Path) -> list[str]:
    """The sorted object names of every annotation file under ``directory/Annotations``."""
    annotations = directory / "Annotations"
    if not annotations.is_dir():
        raise UsageError(f"VOC annotations not found: expected the directory {annotations}")
    names: set[str] = set()
    for path in sorted(p for p in annotations.glob("*.xml") if p.is_file()):
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as error:
            raise UsageError(f"{path}: malformed XML: {error}") from None
        for k, obj in enumerate(root.iter("object")):
            name = (obj.findtext("name") or "").strip()
            if not name:
                raise UsageError(f"{path}: object {k} has no <name>; expected its class name")
            names.add(name)
    if not names:
        raise UsageError(f"{annotations}: no annotated objects, so no classes; give them: --set model_options.classes=NAME,NAME,...")
    return sorted(names)


def _coco_images(source: DatasetSource) -> Path:
    if source.part:
        return Path(source.part).expanduser()
    split = source.path.stem.removeprefix("instances_")
    root = source.path.parent.parent
    return next((d for d in (root / "images" / split, root / split) if d.is_dir()), source.path.parent)


def read_source(source: DatasetSource, transform: Transform | None,
                class_names: Sequence[str] | None = None) -> DetectionDataset:
    """The dataset of a source resolved by :func:`split_source`."""
    if source.kind == "voc":
        classes = list(class_names) if class_names else voc_class_names(source.path)
        return read_voc([source.path], source.part, classes, transform)
    hint = f" (the IMAGES part of {source})" if source.part else \
        f"; give the folder of its images: coco:{source.path}:IMAGES"
    dataset = read_coco(source.path, _coco_images(source), transform, images_hint=hint)
    if class_names and list(class_names) != list(dataset.class_names):
        raise UsageError(f"{source.path}: its categories are {', '.join(dataset.class_names[:8])}, not the classes "
                         f"given ({', '.join(list(class_names)[:8])}); COCO classes come from the categories")
    return dataset
