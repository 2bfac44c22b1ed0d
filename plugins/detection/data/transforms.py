"""EfficientDet input pipeline on torchvision.transforms.v2.

Train: horizontal flip, scale jitter with a random crop, aspect-preserving resize, zero pad
to a square. Eval: aspect-preserving resize (longer side = input size) and zero pad. Images are
normalised with the ImageNet mean/std *before* padding, so the padding is zero in normalised
space (the mean colour), as in the official implementation. Padding goes bottom/right, so box
coordinates in the input are the resized ones and ``original = input / target["scale"]``.

``letterbox=False`` is the pipeline of detectors that resize, normalise and batch images
themselves (torchvision's, through GeneralizedRCNNTransform): the horizontal flip when training,
then float images in [0, 1] at their decoded size, boxes in their pixels (``scale`` 1).
"""

from __future__ import annotations

from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SCALE_JITTER = (0.1, 2.0)  # the official EfficientDet training range


class ResizeCrop:
    """Resize so the longer side is ``size * s``, s uniform in ``scale_range``; crop what exceeds ``size``.

    The crop window is uniformly random over the resized image; with ``scale_range=(1, 1)`` the
    image always fits and nothing is cropped. Sets ``target["scale"]`` (resized / original).
    """

    def __init__(self, size: int, scale_range: tuple[float, float] = (1.0, 1.0)) -> None:
        low, high = scale_range
        if not 0 < low <= high:
            raise ValueError(f"scale_range must satisfy 0 < low <= high, got {scale_range}")
        self.size = size
        self.scale_range = (low, high)

    def __call__(self, image: tv_tensors.Image, target: dict[str, Any]) -> tuple[tv_tensors.Image, dict[str, Any]]:
        height, width = image.shape[-2:]
        low, high = self.scale_range
        jitter = low + (high - low) * torch.rand(()).item()
        new_long = max(1, round(self.size * jitter))
        scale = new_long / max(height, width)
        new_size = [max(1, round(height * scale)), max(1, round(width * scale))]
        top, left = (int(torch.randint(0, max(n - self.size, 0) + 1, ())) for n in new_size)
        crop = (top, left, min(new_size[0], self.size), min(new_size[1], self.size))
        image = F.crop(F.resize(image, new_size, antialias=True), *crop)
        target = {**target, "boxes": F.crop(F.resize(target["boxes"], new_size), *crop), "scale": scale}
        return image, target


class PadBottomRight:
    """Zero-pad the image (and the boxes' canvas) at the bottom and right to ``size x size``."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, image: tv_tensors.Image, target: dict[str, Any]) -> tuple[tv_tensors.Image, dict[str, Any]]:
        height, width = image.shape[-2:]
        padding = [0, 0, self.size - width, self.size - height]
        return F.pad(image, padding, fill=0.0), {**target, "boxes": F.pad(target["boxes"], padding)}


def _labels_and_flags(sample: tuple[Any, dict[str, Any]]) -> tuple[torch.Tensor, torch.Tensor]:
    """What SanitizeBoundingBoxes must filter together with the boxes."""
    return sample[1]["labels"], sample[1]["difficult"]


def _unit_scale(image: Any, target: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    return image, {**target, "scale": 1.0}


def build_transforms(train: bool, image_size: int, scale_range: tuple[float, float] = SCALE_JITTER, *,
                     letterbox: bool = True) -> v2.Compose:
    """The pipeline applied to ``(image uint8 [3,H,W], target)``; the output image is float ``[3, S, S]``
    (with ``letterbox=False``: float ``[3, H, W]`` in [0, 1], see the module docstring)."""
    if not letterbox:
        flip = [v2.RandomHorizontalFlip()] if train else []
        return v2.Compose([*flip, v2.SanitizeBoundingBoxes(min_size=1.0, labels_getter=_labels_and_flags),
                           v2.ToDtype(torch.float32, scale=True), _unit_scale])
    geometry = [v2.RandomHorizontalFlip(), ResizeCrop(image_size, scale_range)] if train else [ResizeCrop(image_size)]
    return v2.Compose(
        [
            *geometry,
            v2.SanitizeBoundingBoxes(min_size=1.0, labels_getter=_labels_and_flags),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
            PadBottomRight(image_size),
        ]
    )
