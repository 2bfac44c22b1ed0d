"""A test-only dataset plugin: the EfficientDet plugin's VOC and COCO dataset builders (layout
and annotation checks) over archives a test generates and serves from a loopback server.

The catalogue is the JSON file named by ``TINY_DATASETS``: ``{name: {"kind": "voc" | "coco",
"files": [{"url", "size", "md5", "extract_to"}]}}``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dnn_suite.hookspecs import hookimpl
from dnn_suite.registry import RemoteFile
from dnn_suite_detection.data.download import coco_dataset, voc_dataset


@hookimpl
def dnn_suite_register_datasets(register):
    catalogue = json.loads(Path(os.environ["TINY_DATASETS"]).read_text())
    for name, entry in catalogue.items():
        files = tuple(RemoteFile(**file) for file in entry["files"])
        if entry["kind"] == "voc":
            register(voc_dataset(name, "tiny VOC (test)", "VOC2007", ("trainval", "test"), files))
        else:
            register(coco_dataset(name, "tiny COCO (test)", ("val2017",), files))
