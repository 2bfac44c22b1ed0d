"""Anchors to the last bit: sizes computed in double precision, rounded once to float32."""

from __future__ import annotations

import torch

from dnn_suite_efficientdet.model import VARIANTS, generate_anchors
from dnn_suite_efficientdet.model.anchors import feature_sizes


def test_feature_sizes_round_up_as_integers():
    sizes = feature_sizes((129, 201), 3)
    assert sizes == [(65, 101), (33, 51), (17, 26)]
    assert all(isinstance(n, int) for size in sizes for n in size)


def test_scales_are_exact_to_float32():
    anchors = generate_anchors(VARIANTS["d0"], 512)
    for octave in range(3):  # P3's first location (centre 4, 4), square ratio: side 32 * 2^(octave/3)
        half = 32 * 2 ** (octave / 3) / 2
        expected = torch.tensor([4 - half, 4 - half, 4 + half, 4 + half], dtype=torch.float64).float()
        assert torch.equal(anchors[3 * octave], expected), octave


def test_anchors_are_made_on_the_requested_device():
    anchors = generate_anchors(VARIANTS["d0"], 128, device="meta")
    assert anchors.device.type == "meta" and anchors.dtype == torch.float32
