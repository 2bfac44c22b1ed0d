"""The datasets the detection package registers for ``dnn-suite data download`` (plugin.py): the
official archives of Pascal VOC 2007 and 2012 and COCO 2017, with their sizes and md5
checksums, the layout the readers expect and a check that reads the annotations with them.

The layout is the original benchmark's ``/dataset``: ``VOCdevkit/VOC2007``,
``VOCdevkit/VOC2012``, ``annotations/instances_{train,val}2017.json`` and
``images/{train,val}2017/`` (the COCO image zips hold ``train2017/...``, so they are
extracted into ``images/``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dnn_suite.errors import UsageError
from dnn_suite.registry import DatasetCheck, DatasetSpec, RemoteFile

from .coco import read_coco
from .dataset import DetectionDataset
from .voc import read_voc

VOC_BASE = "http://host.robots.ox.ac.uk/pascal/VOC/"
COCO_BASE = "http://images.cocodataset.org/"

VOC2007_TRAINVAL = RemoteFile(VOC_BASE + "voc2007/VOCtrainval_06-Nov-2007.tar", 460_032_000,
                              md5="c52e279531787c972589f7e41ab4ae64")
VOC2007_TEST = RemoteFile(VOC_BASE + "voc2007/VOCtest_06-Nov-2007.tar", 451_020_800,
                          md5="b6e924de25625d8de591ea690078ad9f")
VOC2012_TRAINVAL = RemoteFile(VOC_BASE + "voc2012/VOCtrainval_11-May-2012.tar", 1_999_639_040,
                              md5="6cd6e144f989b92b3379bac3b3de84fd")
COCO2017_ANNOTATIONS = RemoteFile(COCO_BASE + "annotations/annotations_trainval2017.zip", 252_907_541,
                                  md5="f4bbac642086de4f52a3fdda2de5fa2c")
COCO2017_TRAIN = RemoteFile(COCO_BASE + "zips/train2017.zip", 19_336_861_798,
                            md5="cced6f7f71b7629ddf16f17bbcfab6b2", extract_to="images")
COCO2017_VAL = RemoteFile(COCO_BASE + "zips/val2017.zip", 815_585_330,
                          md5="442b8da7639aecaf257c1dceb8ba8c80", extract_to="images")


def counted(named: Sequence[tuple[str, DetectionDataset]]) -> DatasetCheck:
    """``"<name> N images, ..."`` and the image files, once every image the annotations list exists."""
    for name, dataset in named:
        missing = [path for path in dataset.paths if not path.is_file()]
        if missing:
            raise UsageError(f"{name}: {len(missing)} of {len(dataset)} images are missing, e.g. {missing[0]}")
    return DatasetCheck(", ".join(f"{name} {len(dataset)} images" for name, dataset in named),
                        tuple(path for _, dataset in named for path in dataset.paths))


def voc_dataset(name: str, description: str, year: str, image_sets: Sequence[str],
                files: tuple[RemoteFile, ...]) -> DatasetSpec:
    """A VOC dataset: ``VOCdevkit/<year>`` with the given image sets (``trainval``, ``test``)."""
    folder = f"VOCdevkit/{year}"
    layout = (f"{folder}/Annotations", f"{folder}/JPEGImages",
              *(f"{folder}/ImageSets/Main/{image_set}.txt" for image_set in image_sets))

    def verify(root: Path) -> DatasetCheck:
        return counted([(f"{year} {image_set}", read_voc([root / folder], image_set)) for image_set in image_sets])

    return DatasetSpec(name, description, files, layout, verify)


def coco_dataset(name: str, description: str, splits: Sequence[str], files: tuple[RemoteFile, ...]) -> DatasetSpec:
    """A COCO dataset: ``annotations/instances_<split>.json`` and ``images/<split>/`` per split."""
    layout = tuple(path for split in splits for path in (f"annotations/instances_{split}.json", f"images/{split}"))

    def verify(root: Path) -> DatasetCheck:
        return counted([(split, read_coco(root / "annotations" / f"instances_{split}.json", root / "images" / split))
                        for split in splits])

    return DatasetSpec(name, description, files, layout, verify)


DATASETS: tuple[DatasetSpec, ...] = (
    voc_dataset("voc2007", "Pascal VOC 2007 trainval + test (detection)", "VOC2007", ("trainval", "test"),
                (VOC2007_TRAINVAL, VOC2007_TEST)),
    voc_dataset("voc2012", "Pascal VOC 2012 trainval (detection)", "VOC2012", ("trainval",), (VOC2012_TRAINVAL,)),
    coco_dataset("coco2017", "COCO 2017 train + val images and instance annotations", ("train2017", "val2017"),
                 (COCO2017_ANNOTATIONS, COCO2017_VAL, COCO2017_TRAIN)),
    coco_dataset("coco2017-val", "COCO 2017 val images and instance annotations (for evaluation)", ("val2017",),
                 (COCO2017_ANNOTATIONS, COCO2017_VAL)),
)
