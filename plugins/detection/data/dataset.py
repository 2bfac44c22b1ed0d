"""The detection dataset shared by the VOC, COCO and synthetic readers.

Readers parse their annotation format into :class:`ImageRecord` objects; :class:`DetectionDataset`
stores them as a few flat numpy arrays (not one Python object per image) so that DataLoader
workers forked from the main process do not copy the annotations page by page through
reference-count writes.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

from dnn_suite.datasets.images import read_rgb

Transform = Callable[[tv_tensors.Image, dict[str, Any]], tuple[torch.Tensor, dict[str, Any]]]


@dataclass(frozen=True)
class ImageRecord:
    """One image's annotation: boxes are float xyxy in original-image pixels."""

    path: Path
    image_id: int
    boxes: np.ndarray  # float32 [n, 4]
    labels: np.ndarray  # int64 [n], contiguous 0..C-1
    difficult: np.ndarray  # bool [n]


class BoxRepairs:
    """Clips boxes to their image and drops empty ones, counting both for one warning per dataset."""

    def __init__(self) -> None:
        self.clipped = 0
        self.dropped = 0

    def fit(self, boxes: np.ndarray, width: float, height: float) -> tuple[np.ndarray, np.ndarray]:
        """Return the boxes clipped to ``[0, width] x [0, height]`` and the mask of non-empty ones."""
        clipped = boxes.copy()
        np.clip(clipped[:, 0::2], 0, width, out=clipped[:, 0::2])
        np.clip(clipped[:, 1::2], 0, height, out=clipped[:, 1::2])
        keep = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
        self.clipped += int(np.any(clipped != boxes, axis=1)[keep].sum())
        self.dropped += int((~keep).sum())
        return clipped, keep

    def warn(self, source: Path | str) -> None:
        if self.clipped or self.dropped:
            warnings.warn(
                f"{source}: {self.clipped} boxes clipped to their image, "
                f"{self.dropped} boxes with zero area dropped",
                stacklevel=3,
            )


def read_image(path: Path) -> tv_tensors.Image:
    """Decode an image file as RGB uint8 ``[3, H, W]``; a failure is the data's fault (UsageError).

    PIL rather than torchvision.io, whose decoders are deprecated since torchvision 0.29.
    """
    return F.to_image(read_rgb(path))


class DetectionDataset(Dataset):
    """Images with boxes; ``dataset[i]`` is ``(image, target)`` after ``transform``.

    The target holds ``boxes`` (``BoundingBoxes`` xyxy), ``labels`` (int64), ``difficult`` (bool),
    ``image_id`` (int) and ``orig_size`` ((h, w) of the decoded image); the transform adds ``scale``.
    """

    def __init__(
        self, records: Sequence[ImageRecord], class_names: Sequence[str], transform: Transform | None = None
    ) -> None:
        self.class_names = tuple(class_names)
        self.transform = transform
        self._paths = np.array([str(r.path) for r in records])
        self._image_ids = np.array([r.image_id for r in records], dtype=np.int64)
        counts = [len(r.labels) for r in records]
        self._offsets = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
        self._boxes = np.concatenate([r.boxes for r in records] or [np.zeros((0, 4))]).astype(np.float32)
        self._labels = np.concatenate([r.labels for r in records] or [np.zeros(0)]).astype(np.int64)
        self._difficult = np.concatenate([r.difficult for r in records] or [np.zeros(0)]).astype(bool)

    def __len__(self) -> int:
        return len(self._paths)

    @property
    def paths(self) -> list[Path]:
        """The image files, in dataset order."""
        return [Path(path) for path in self._paths]

    @property
    def image_ids(self) -> list[int]:
        return self._image_ids.tolist()

    def ground_truth(self, index: int) -> dict[str, torch.Tensor]:
        """Boxes (original pixels), labels and difficult flags of one image, without decoding it."""
        span = slice(self._offsets[index], self._offsets[index + 1])
        # Copies: a caller scaling boxes in place must not change the dataset.
        return {
            "boxes": torch.from_numpy(self._boxes[span].copy()),
            "labels": torch.from_numpy(self._labels[span].copy()),
            "difficult": torch.from_numpy(self._difficult[span].copy()),
        }

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        image = read_image(Path(self._paths[index]))
        size = tuple(image.shape[-2:])
        target: dict[str, Any] = self.ground_truth(index)
        target["boxes"] = tv_tensors.BoundingBoxes(target["boxes"], format="XYXY", canvas_size=size)
        target["image_id"] = int(self._image_ids[index])
        target["orig_size"] = size
        if self.transform is not None:
            image, target = self.transform(image, target)
        # Plain tensors from here on: cheaper to pickle between workers, no tv_tensors semantics needed.
        target["boxes"] = target["boxes"].as_subclass(torch.Tensor)
        return image.as_subclass(torch.Tensor), target
