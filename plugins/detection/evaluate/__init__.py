"""Detection metrics: Pascal VOC AP and COCO AP (COCOeval, by faster-coco-eval or pycocotools)."""

from .coco import COCO_EVALUATORS, COCO_METRIC_NAMES, COCOResult, evaluate_coco, format_coco
from .dataset import evaluate_detections
from .voc import VOCResult, evaluate_voc, format_voc

__all__ = ["COCO_EVALUATORS", "COCO_METRIC_NAMES", "COCOResult", "VOCResult", "evaluate_coco", "evaluate_detections", "evaluate_voc", "format_coco", "format_voc"]
