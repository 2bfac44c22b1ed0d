"""The model options every detection model plugin shares, declared once here: the classes of a
``voc:`` dataset and the synthetic splits' sizes (read by runs.py), and the evaluators' settings
(evaluate/). A detection plugin puts :data:`DETECTION_OPTIONS` into its models' options."""

from __future__ import annotations

from dnn_suite.options import Option
from dnn_suite.value_types import Integer, ListOf, Nullable, OneOf, Text

from .evaluate import COCO_EVALUATORS

DETECTION_OPTIONS = (
    Option("classes", None, "class names of a voc: dataset (a list, or comma-separated); default: the annotations' "
           "names", Nullable(OneOf((ListOf(Text()), Text()))), trained=True),
    Option("synthetic_train", 512, "images in the synthetic training split", Integer(minimum=1)),
    Option("synthetic_val", 128, "images in the synthetic validation split", Integer(minimum=1)),
    Option("voc07_metric", False, "VOC2007 11-point AP instead of all-point AP", flag=True),
    Option("coco_evaluator", "faster-coco-eval", "COCO AP engine: faster-coco-eval (COCOeval in C++, ~5x faster) "
           "or pycocotools (the reference); the numbers are equal", Text(choices=COCO_EVALUATORS)),
)
