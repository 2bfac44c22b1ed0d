"""EfficientDet datasets (VOC, COCO, synthetic shapes), transforms and loaders."""

from .coco import COCODataset, load_coco_json, read_coco
from .dataset import DetectionDataset, ImageRecord
from .loader import DATASET_NAMES, EVAL_DATASET, SyntheticConfig, build_dataset, build_loader, collate
from .shapes import SHAPE_CLASSES
from .synthetic import ensure_synthetic, synthetic_dir
from .transforms import IMAGENET_MEAN, IMAGENET_STD, build_transforms
from .voc import VOC_CLASSES, read_voc

__all__ = [
    "COCODataset",
    "DATASET_NAMES",
    "DetectionDataset",
    "EVAL_DATASET",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ImageRecord",
    "SHAPE_CLASSES",
    "SyntheticConfig",
    "VOC_CLASSES",
    "build_dataset",
    "build_loader",
    "build_transforms",
    "collate",
    "ensure_synthetic",
    "synthetic_dir",
    "load_coco_json",
    "read_coco",
    "read_voc",
]
