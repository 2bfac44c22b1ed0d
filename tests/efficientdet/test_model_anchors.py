import math

import pytest
import torch

from dnn_suite_efficientdet.model import VARIANTS, generate_anchors

D0 = VARIANTS["d0"]
P4_START = 9 * 64 * 64  # D0 at 512: P3 is 64x64 locations of 9 anchors


def box(cx, cy, w, h):
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def test_d0_count():
    anchors = generate_anchors(D0, 512)
    assert anchors.shape == (49104, 4) and anchors.dtype == torch.float32


def test_p3_first_location_scales_and_ratios():
    anchors = generate_anchors(D0, 512).double()
    s1, s2 = 32 * 2 ** (1 / 3), 32 * 2 ** (2 / 3)
    expected = [box(4, 4, 32, 32), box(4, 4, 32 * 1.4, 32 * 0.7), box(4, 4, 32 * 0.7, 32 * 1.4),
                box(4, 4, s1, s1), box(4, 4, s1 * 1.4, s1 * 0.7), box(4, 4, s1 * 0.7, s1 * 1.4),
                box(4, 4, s2, s2), box(4, 4, s2 * 1.4, s2 * 0.7), box(4, 4, s2 * 0.7, s2 * 1.4)]
    torch.testing.assert_close(anchors[:9], torch.tensor(expected, dtype=torch.float64), atol=1e-4, rtol=0)


def test_order_is_level_row_col_anchor():
    anchors = generate_anchors(D0, 512)
    torch.testing.assert_close(anchors[9], torch.tensor(box(12, 4, 32, 32)))  # next column
    torch.testing.assert_close(anchors[9 * 64], torch.tensor(box(4, 12, 32, 32)))  # next row
    torch.testing.assert_close(anchors[P4_START], torch.tensor(box(8, 8, 64, 64)))  # first of P4
    base = 4 * 128 * 2 ** (2 / 3)  # last anchor: P7 (4x4, stride 128) bottom-right, scale 2^(2/3), ratio 0.7:1.4
    torch.testing.assert_close(anchors[-1], torch.tensor(box(448, 448, base * 0.7, base * 1.4)))


def test_anchor_scale_and_rectangular_images():
    anchors = generate_anchors(VARIANTS["d7"], (256, 384))
    assert len(anchors) == 9 * sum((256 // 2**lvl) * (384 // 2**lvl) for lvl in range(3, 8))
    torch.testing.assert_close(anchors[0], torch.tensor(box(4, 4, 40, 40)))  # anchor scale 5
    torch.testing.assert_close(anchors[9 * 47], torch.tensor(box(4 + 47 * 8, 4, 40, 40)))  # last of row 0: 48 columns
    torch.testing.assert_close(anchors[9 * 48], torch.tensor(box(4, 12, 40, 40)))


def test_sizes_not_divisible_by_128_round_up_per_level():
    # 200 -> P3 25, P4 13, P5 7, P6 4, P7 2 locations per side, like the strided convs and pools.
    assert len(generate_anchors(D0, 200)) == 9 * (25**2 + 13**2 + 7**2 + 4**2 + 2**2)


@pytest.mark.parametrize("level", range(3, 8))
def test_each_level_tiles_the_image(level):
    sizes = [(512 // 2**lvl) ** 2 * 9 for lvl in range(3, 8)]
    start = sum(sizes[: level - 3])
    anchors = generate_anchors(D0, 512)[start:start + sizes[level - 3]]
    centres = (anchors[:, :2] + anchors[:, 2:]) / 2
    stride = 2**level
    assert centres.min().item() == stride / 2 and centres.max().item() == 512 - stride / 2
    widths = anchors[:, 2] - anchors[:, 0]
    assert widths.max().item() == pytest.approx(4 * stride * 2 ** (2 / 3) * 1.4, rel=1e-6)
    assert math.isclose(widths.min().item(), 4 * stride * 0.7, rel_tol=1e-6)
