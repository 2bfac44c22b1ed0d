"""Train/eval transforms: boxes follow flip, resize, crop and pad; scale and orig_size are set."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torchvision import tv_tensors

from dnn_suite_detection.data import IMAGENET_MEAN, IMAGENET_STD, build_transforms
from dnn_suite_detection.data.transforms import ResizeCrop


def _sample(boxes: list[list[float]], height: int = 100, width: int = 200) -> tuple[tv_tensors.Image, dict[str, Any]]:
    """An image whose red channel is the column index and green channel the row index."""
    image = torch.zeros(3, height, width, dtype=torch.uint8)
    image[0] = torch.arange(width).clamp(max=255).to(torch.uint8)[None, :]
    image[1] = torch.arange(height).clamp(max=255).to(torch.uint8)[:, None]
    target = {
        "boxes": tv_tensors.BoundingBoxes(torch.tensor(boxes, dtype=torch.float32), format="XYXY", canvas_size=(height, width)),
        "labels": torch.arange(len(boxes)),
        "difficult": torch.tensor([i % 2 == 1 for i in range(len(boxes))]),
        "image_id": 5,
        "orig_size": (height, width),
    }
    return tv_tensors.Image(image), target


def _unnormalise(image: torch.Tensor, channel: int) -> torch.Tensor:
    return (image[channel] * IMAGENET_STD[channel] + IMAGENET_MEAN[channel]) * 255


def test_eval_resizes_longer_side_and_pads_bottom_right() -> None:
    image, target = build_transforms(train=False, image_size=100)(*_sample([[20, 10, 60, 50]]))
    assert image.shape == (3, 100, 100) and image.dtype == torch.float32
    assert target["scale"] == 0.5 and target["orig_size"] == (100, 200) and target["image_id"] == 5
    assert torch.allclose(target["boxes"], torch.tensor([[10.0, 5.0, 30.0, 25.0]]))
    assert (image[:, 50:, :] == 0).all()  # padding is zero after normalisation: the mean colour
    assert (image[:, :50, :] != 0).any(dim=0).all()
    # Mapping back to the original image divides by the scale.
    assert torch.allclose(target["boxes"] / target["scale"], torch.tensor([[20.0, 10.0, 60.0, 50.0]]))


def test_train_flip_mirrors_boxes_and_pixels() -> None:
    transform = build_transforms(train=True, image_size=100, scale_range=(1.0, 1.0))
    seen = set()
    for seed in range(12):
        torch.manual_seed(seed)
        image, target = transform(*_sample([[20, 10, 60, 50]]))
        box = tuple(target["boxes"][0].tolist())
        assert box in {(10.0, 5.0, 30.0, 25.0), (70.0, 5.0, 90.0, 25.0)}  # 100 - 30, 100 - 10
        flipped = box[0] == 70.0
        left_red = _unnormalise(image, 0)[0, 0].item()  # column 0 holds original column 0 or 199
        assert left_red == pytest.approx(199, abs=3) if flipped else left_red == pytest.approx(0, abs=3)
        seen.add(flipped)
    assert seen == {True, False}


def test_scale_jitter_crops_a_random_window_and_boxes_follow() -> None:
    crop = ResizeCrop(100, scale_range=(2.0, 2.0))  # long side 200: scale 1, image 100x200 -> crop 100 wide
    lefts = set()
    for seed in range(8):
        torch.manual_seed(seed)
        image, target = crop(*_sample([[20, 10, 60, 50], [150, 10, 190, 50]]))
        assert image.shape == (3, 100, 100) and target["scale"] == 1.0
        left = int(image[0, 0, 0])  # the red channel still holds original column numbers
        lefts.add(left)
        expected = torch.tensor([[20.0 - left, 10, 60 - left, 50], [150 - left, 10, 190 - left, 50]])
        assert torch.allclose(target["boxes"], expected.clamp(0, 100))
    assert len(lefts) > 1


def test_boxes_cropped_away_are_dropped_with_their_labels_and_flags() -> None:
    transform = build_transforms(train=True, image_size=100, scale_range=(2.0, 2.0))
    counts = set()
    for seed in range(20):
        torch.manual_seed(seed)
        image, target = transform(*_sample([[0, 10, 30, 50], [170, 10, 200, 50]]))
        assert image.shape == (3, 100, 100)
        n = len(target["boxes"])
        assert n == len(target["labels"]) == len(target["difficult"])
        assert target["difficult"].tolist() == [bool(label % 2) for label in target["labels"].tolist()]
        counts.add(n)
    assert counts == {0, 1}  # a 100-wide window over 200 columns never holds both boxes


def test_shrinking_jitter_leaves_padding() -> None:
    torch.manual_seed(0)
    image, target = build_transforms(train=True, image_size=100, scale_range=(0.5, 0.5))(*_sample([[20, 10, 60, 50]]))
    assert image.shape == (3, 100, 100) and target["scale"] == 0.25
    assert (image[:, 25:, :] == 0).all() and (image[:, :, 50:] == 0).all()


def test_scale_range_is_validated() -> None:
    with pytest.raises(ValueError, match="scale_range"):
        ResizeCrop(100, scale_range=(2.0, 1.0))
