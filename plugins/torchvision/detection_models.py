"""torchvision's detectors: which builders, their input sizes and their label conventions.

Label conventions (torchvision 0.29's code): Faster R-CNN and SSD/SSDlite score a softmax over
``num_classes`` outputs whose class 0 is the background (the ROI heads and SSD's
``postprocess_detections`` never emit it), so a dataset's classes 0..C-1 are labels 1..C and
``num_classes`` is C + 1. RetinaNet and FCOS score one sigmoid per class with no background
output (the loss one-hot encodes the label as an index, the post-processing emits every
index), so labels are the dataset's own 0..C-1 and ``num_classes`` is C.

Input size: the R-CNN-style detectors resize each image inside the model
(GeneralizedRCNNTransform, shorter side ``min_size``, longer side at most ``max_size``); both are
set to the image size, so the longer side becomes the image size, as in EfficientDet's input.
SSD and SSDlite resize to a fixed square, set to the image size. Mask and keypoint R-CNN are not
offered: the detection datasets have no masks or keypoints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn
from torchvision.models import detection


@dataclass(frozen=True)
class Detector:
    builder: Callable[..., nn.Module]
    family: str  # the group of `dnn-suite list`
    size: int  # torchvision's input size: min_size of GeneralizedRCNNTransform, or SSD's square side
    background: bool  # class 0 is the background: model label = dataset label + 1, one more class
    resizable: bool = True  # False: the architecture is laid out for ``size`` only (SSD300's box steps)

    def num_classes(self, dataset_classes: int) -> int:
        return dataset_classes + int(self.background)

    @property
    def label_offset(self) -> int:
        """Model label = dataset label + offset."""
        return int(self.background)


FAMILIES = {"fasterrcnn": "Faster R-CNN (Ren et al. 2015)", "retinanet": "RetinaNet (Lin et al. 2017)",
            "fcos": "FCOS (Tian et al. 2019)", "ssd": "SSD300 and SSDlite320 (Liu et al. 2016)"}
DETECTORS: dict[str, Detector] = {
    "fasterrcnn_resnet50_fpn": Detector(detection.fasterrcnn_resnet50_fpn, "fasterrcnn", 800, True),
    "fasterrcnn_resnet50_fpn_v2": Detector(detection.fasterrcnn_resnet50_fpn_v2, "fasterrcnn", 800, True),
    "fasterrcnn_mobilenet_v3_large_fpn": Detector(detection.fasterrcnn_mobilenet_v3_large_fpn, "fasterrcnn", 800, True),
    "fasterrcnn_mobilenet_v3_large_320_fpn": Detector(detection.fasterrcnn_mobilenet_v3_large_320_fpn, "fasterrcnn",
                                                      320, True),
    "retinanet_resnet50_fpn": Detector(detection.retinanet_resnet50_fpn, "retinanet", 800, False),
    "retinanet_resnet50_fpn_v2": Detector(detection.retinanet_resnet50_fpn_v2, "retinanet", 800, False),
    "fcos_resnet50_fpn": Detector(detection.fcos_resnet50_fpn, "fcos", 800, False),
    # SSD300's default boxes are placed with steps of a 300 px input; its VGG extras need about that size
    "ssd300_vgg16": Detector(detection.ssd300_vgg16, "ssd", 300, True, resizable=False),
    "ssdlite320_mobilenet_v3_large": Detector(detection.ssdlite320_mobilenet_v3_large, "ssd", 320, True),
}


def build_detector(name: str, dataset_classes: int, image_size: int) -> nn.Module:
    """A randomly initialised detector for ``dataset_classes`` classes whose inputs are resized to
    ``image_size`` (the longer side; SSD: the square's side).

    ``weights`` and ``weights_backbone`` are None: nothing is downloaded (weights are loaded into
    the built model from local files by the caller).
    """
    spec = DETECTORS[name]
    model = spec.builder(weights=None, weights_backbone=None, num_classes=spec.num_classes(dataset_classes))
    transform = model.transform
    if transform.fixed_size:  # SSD: resized to a square
        transform.fixed_size = (image_size, image_size)
    else:
        transform.min_size, transform.max_size = (image_size,), image_size
    return model
