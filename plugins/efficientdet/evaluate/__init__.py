"""Detection metrics: Pascal VOC AP and COCO AP (pycocotools)."""

from .coco import COCO_METRIC_NAMES, COCOResult, evaluate_coco, format_coco
from .voc import VOCResult, evaluate_voc, format_voc

__all__ = ["COCO_METRIC_NAMES", "COCOResult", "VOCResult", "evaluate_coco", "evaluate_voc", "format_coco", "format_voc"]
