"""The detection package's own hook implementations: what it registers whichever detection model
plugins are installed (EfficientDet, torchvision's detectors, both or neither).

* the VOC 2007/2012 and COCO 2017 archives of ``dnn-suite data download`` (data/download.py);
* ``dnn-suite data check voc:DIR|coco:FILE``: the splits training and evaluation would read.
"""

from __future__ import annotations

from dnn_suite.errors import UsageError
from dnn_suite.hookspecs import hookimpl
from dnn_suite.registry import DatasetCheck

from .data.download import DATASETS, counted
from .data.sources import parse_source, read_source, split_source


@hookimpl
def dnn_suite_register_datasets(register):
    for spec in DATASETS:
        register(spec)


@hookimpl
def dnn_suite_check_dataset(spec: str) -> DatasetCheck | None:
    source = parse_source(spec)
    if source is None:
        return None
    splits = dict.fromkeys(s for s in (split_source(source, "train"), split_source(source, "eval")) if s)
    if not splits:
        raise UsageError(f"dataset {spec}: no image set to read; name one: {spec}:SET")
    datasets = [(str(s), read_source(s, None)) for s in splits]
    found = counted(datasets)
    classes = datasets[0][1].class_names
    return DatasetCheck(f"{found.summary}; {len(classes)} classes: {', '.join(classes)}", found.images)
