"""The VOC matcher's pairwise IoU on boxes apart in one or both directions, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from dnn_suite_efficientdet.evaluate.matching import pair_iou


@pytest.mark.parametrize("offset", [0.0, 1.0])
def test_boxes_apart_have_no_overlap(offset):
    a = np.array([[0.0, 0, 10, 10]] * 3)
    b = np.array([[20.0, 20, 30, 30],  # apart both ways: two negative extents must not make a positive area
                  [5, 20, 15, 30],  # overlapping in x only
                  [20, 5, 30, 15]])  # in y only
    assert pair_iou(a, b, offset).tolist() == [0.0, 0.0, 0.0]


def test_sub_pixel_overlap():
    a = np.array([[0.0, 0, 10, 10], [0, 0, 10, 10]])
    b = np.array([[9.5, 0, 20, 10], [0, 9.5, 10, 20]])  # half a pixel of overlap, in x, then in y
    assert pair_iou(a, b, 0.0) == pytest.approx([5 / 200, 5 / 200])
    # the devkit's inclusive pixels: 11 x 11 and 11.5 x 11 boxes, 1.5 x 11 overlap
    assert pair_iou(a, b, 1.0) == pytest.approx([16.5 / (121 + 126.5 - 16.5)] * 2)
