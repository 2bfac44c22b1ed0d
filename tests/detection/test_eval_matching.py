"""The VOC matcher's pairwise IoU on boxes apart in one or both directions, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from dnn_suite_detection.evaluate.matching import FALSE_POSITIVE, TRUE_POSITIVE, match_detections, pair_iou


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


def test_ties_go_to_the_first_ground_truth_of_a_group_however_the_groups_interleave():
    # 40 boxes of two interleaved groups; group 0's are all the same box and only its first (index 2)
    # is not difficult. The devkit takes the first of equal IoUs: the detection is a true positive,
    # not ignored. numpy's default sort, not stable past 16 elements, puts index 3 first here.
    gt_group = np.array([1, 1, 0, 0, 1, 1, 1, 0, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1,
                         0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 0])
    gt_boxes = np.tile([0.0, 0, 10, 10], (40, 1))
    gt_difficult = np.ones(40, dtype=bool)
    gt_difficult[2] = False
    status = match_detections(np.array([0]), np.array([[0.0, 0, 10, 10]]), gt_group, gt_boxes, gt_difficult, 0.5)
    assert status.tolist() == [TRUE_POSITIVE]


def test_pixel_offset_defaults_to_none():
    # 10x10 boxes overlapping 5x10: IoU 50 / 150 = 1/3 without the devkit's +1 (with it 66 / 166 = 0.398)
    args = (np.array([0]), np.array([[5.0, 0, 15, 10]]), np.array([0]), np.array([[0.0, 0, 10, 10]]),
            np.array([False]))
    assert match_detections(*args, 0.35).tolist() == [FALSE_POSITIVE]
    assert match_detections(*args, 0.35, pixel_offset=1.0).tolist() == [TRUE_POSITIVE]
