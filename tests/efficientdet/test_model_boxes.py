"""Box coding and anchor IoU on boxes small enough to work out by hand."""

from __future__ import annotations

import math

import torch

from dnn_suite_efficientdet.model.boxes import anchor_iou, decode_boxes, encode_boxes


def test_decode_hand_value():
    # anchor centre (y 20, x 10), size 40 x 20; codes move the centre by one anchor size each way
    # and double both sides: centre (60, 30), size 80 x 40
    anchor = torch.tensor([[0.0, 0, 20, 40]])
    codes = torch.tensor([[1.0, 1.0, math.log(2), math.log(2)]])
    torch.testing.assert_close(decode_boxes(codes, anchor), torch.tensor([[10.0, 20, 50, 100]]))
    torch.testing.assert_close(encode_boxes(torch.tensor([[10.0, 20, 50, 100]]), anchor), codes)


def test_decode_caps_the_scale_at_1000_over_16():
    anchor = torch.tensor([[0.0, 0, 16, 32]])  # 32 high, 16 wide, centre (16, 8)
    boxes = decode_boxes(torch.tensor([[0.0, 0.0, 50.0, 50.0], [0.0, 0.0, -50.0, math.log(62)]]), anchor)
    h, w = 32 * 1000 / 16, 16 * 1000 / 16  # capped: exp(50) would be 5e21
    torch.testing.assert_close(boxes[0], torch.tensor([8 - w / 2, 16 - h / 2, 8 + w / 2, 16 + h / 2]))
    # below the cap nothing changes, however small
    torch.testing.assert_close(boxes[1], torch.tensor([8 - 16 * 31, 16 - 16 * math.exp(-50), 8 + 16 * 31,
                                                       16 + 16 * math.exp(-50)]))


def test_anchor_iou_by_hand():
    anchors = torch.tensor([[0.0, 0, 10, 10], [5, 5, 15, 15], [0, 0, 0, 0]])
    boxes = torch.tensor([[[0.0, 0, 10, 10], [5, 0, 15, 20], [20, 20, 30, 30]],
                          [[0.0, 0, 0, 0], [0, 0, 4, 10], [0, 0, 10, 10]]])
    iou = anchor_iou(anchors, boxes)
    assert iou.shape == (2, 3, 3)
    expected = torch.tensor([
        # image 0: the same box; 5x10 and 10x10 overlaps of 100 and 200; disjoint
        [[1.0, 50 / 250, 0.0], [25 / 175, 100 / 200, 0.0], [0.0, 0.0, 0.0]],
        # image 1: a zero-area box (0, not NaN); 4x10 inside 10x10; the same box
        [[0.0, 40 / 100, 1.0], [0.0, 0.0, 25 / 175], [0.0, 0.0, 0.0]],
    ])
    torch.testing.assert_close(iou, expected)


def test_anchor_iou_of_oblong_offset_and_tiny_boxes():
    anchors = torch.tensor([[0.0, 0, 20, 10], [0, 0, 0.5, 0.5]])  # 20 wide, 10 high; a quarter-pixel square
    boxes = torch.tensor([[[0.0, 20, 20, 30], [10, 5, 30, 25], [0, 0, 0.5, 0.5]]])  # offset in y, not in x
    expected = torch.tensor([[
        [0.0, 50 / (200 + 400 - 50), 0.25 / 200],  # overlapping in x only: 0; 10x5; the tiny one inside
        [0.0, 0.0, 1.0],  # the same quarter-pixel box: 1, however small the union
    ]])
    torch.testing.assert_close(anchor_iou(anchors, boxes), expected)
