"""The rows COCO evaluation hands to ``COCO.loadRes`` (``[image_id, x, y, w, h, score, category_id]``),
worked out by hand from xyxy boxes and contiguous labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dnn_suite_detection.evaluate.coco import detections_to_rows

CATEGORY_IDS = (2, 9)  # contiguous label 0 -> category 2, label 1 -> category 9


def test_rows_are_xywh_with_the_image_and_category_ids_from_tensors_that_carry_gradients_and_from_numpy() -> None:
    from_a_model_in_training = {
        "boxes": torch.tensor([[10.0, 20.0, 40.0, 80.0], [0.0, 0.0, 5.0, 5.0]], requires_grad=True),
        "scores": torch.tensor([0.75, 0.25]),
        "labels": torch.tensor([1, 0]),
    }
    from_numpy = {"boxes": np.array([[1.5, 2.5, 4.0, 8.5]]), "scores": np.array([0.5]), "labels": np.array([0])}
    rows = detections_to_rows([from_a_model_in_training, from_numpy], [3, 5], CATEGORY_IDS)
    np.testing.assert_array_equal(rows, [[3, 10.0, 20.0, 30.0, 60.0, 0.75, 9],
                                         [3, 0.0, 0.0, 5.0, 5.0, 0.25, 2],
                                         [5, 1.5, 2.5, 2.5, 6.0, 0.5, 2]])


def test_no_images_give_an_empty_table_of_seven_columns() -> None:
    rows = detections_to_rows([], [], CATEGORY_IDS)
    assert rows.shape == (0, 7)


def test_detections_and_image_ids_of_different_lengths_are_refused() -> None:
    one = {"boxes": torch.tensor([[0.0, 0.0, 1.0, 1.0]]), "scores": torch.tensor([1.0]), "labels": torch.tensor([0])}
    with pytest.raises(ValueError, match="zip"):
        detections_to_rows([one], [3, 5], CATEGORY_IDS)
