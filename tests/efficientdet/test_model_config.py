import pytest
import torch

from dnn_suite.errors import UsageError
from dnn_suite_efficientdet.model import VARIANTS, build_efficientdet, get_config

# Paper, Table 2 (90 COCO classes), millions of parameters.
PAPER_PARAMS = {"d0": 3.9, "d1": 6.6, "d2": 8.1, "d3": 12.0, "d4": 20.7, "d5": 33.7, "d6": 51.9, "d7": 51.9}


@pytest.mark.parametrize("variant", sorted(PAPER_PARAMS))
def test_parameter_count_matches_paper(variant):
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        model = build_efficientdet(variant, num_classes=90)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    assert params == pytest.approx(PAPER_PARAMS[variant], rel=0.03)


def test_variant_table():
    assert list(VARIANTS) == [f"d{i}" for i in range(8)]
    d0, d6, d7 = VARIANTS["d0"], VARIANTS["d6"], VARIANTS["d7"]
    assert (d0.image_size, d0.backbone, d0.fpn_channels, d0.fpn_repeats, d0.head_repeats) == (
        512, "efficientnet_b0", 64, 3, 3)
    assert (d0.fusion, d0.anchor_scale, d0.num_anchors) == ("fast", 4.0, 9)
    assert (d6.fusion, d6.anchor_scale, d6.backbone) == ("sum", 4.0, "efficientnet_b6")
    assert (d7.image_size, d7.fusion, d7.anchor_scale, d7.backbone) == (1536, "sum", 5.0, "efficientnet_b6")
    assert [c.fpn_channels for c in VARIANTS.values()] == [64, 88, 112, 160, 224, 288, 384, 384]


def test_get_config_is_case_insensitive():
    assert get_config("D3") is VARIANTS["d3"]


def test_unknown_variant_is_a_usage_error_listing_variants():
    with pytest.raises(UsageError) as info:
        get_config("d8")
    message = str(info.value)
    assert "d8" in message and "d0, d1, d2, d3, d4, d5, d6, d7" in message and "\n" not in message


@pytest.mark.parametrize("kwargs", [{"num_classes": 0}, {"num_classes": 3, "image_size": 0}])
def test_build_rejects_bad_arguments(kwargs):
    with torch.device("meta"), pytest.raises(UsageError):
        build_efficientdet("d0", **kwargs)


def test_image_size_override():
    with torch.device("meta"):
        model = build_efficientdet("d1", num_classes=5, image_size=256)
    assert model.config.image_size == 256 and model.config.fpn_channels == 88
    assert model.anchors().shape == (9 * sum((256 // 2**lvl) ** 2 for lvl in range(3, 8)), 4)
