"""effdet's EfficientDet weights in ours: key conversion, output parity, class-head handling.

effdet (a test dependency) builds its models with random weights here (``pretrained=False``,
``pretrained_backbone=False``): nothing is downloaded. BatchNorm statistics and fusion weights
are randomised too, so that a swapped or misnamed tensor would change the outputs.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from dnn_suite.errors import UsageError
from dnn_suite_efficientdet.effdet_keys import EFFDET_BACKBONE_BN_EPS, coco90_class_names
from dnn_suite_efficientdet.model import build_efficientdet, postprocess
from dnn_suite_efficientdet.weights import CLASS_LAYER, load_weights

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # effdet imports torch.jit.script, deprecated
    effdet = pytest.importorskip("effdet")

SIZE = 128


def effdet_model(name: str, size: int = SIZE, **kwargs) -> nn.Module:
    torch.manual_seed(0)
    model = effdet.create_model(name, pretrained=False, pretrained_backbone=False, image_size=(size, size), **kwargs)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d) and module.bias is not None:
                module.bias.uniform_(-0.2, 0.2)  # effdet starts most at 0: they must land in the right place
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
            if getattr(module, "edge_weights", None) is not None:
                module.edge_weights.uniform_(0.2, 1.5)
    return model.eval()


def effdet_outputs(model: nn.Module, images: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """effdet's per-level outputs flattened as ours are: level -> row -> col -> anchor."""
    with torch.no_grad():
        classes, boxes = model(images)
    n = images.shape[0]
    return (torch.cat([c.permute(0, 2, 3, 1).reshape(n, -1, num_classes) for c in classes], 1),
            torch.cat([b.permute(0, 2, 3, 1).reshape(n, -1, 4) for b in boxes], 1))


def assert_informative(*outputs: torch.Tensor) -> None:
    """Outputs that vary from anchor to anchor (the signal has not vanished), so that a misplaced
    tensor would show."""
    for output in outputs:
        assert output.std(dim=1).mean() > 0.02, output.std(dim=1).mean()


def converted(tmp_path, reference: nn.Module, variant: str, class_names, **kwargs):
    path = tmp_path / f"{variant}.pth"
    torch.save(reference.state_dict(), path)
    model = build_efficientdet(variant, len(class_names), image_size=SIZE)
    report = load_weights(model, path, class_names, **{"allow_new_classes": False, **kwargs})
    return model.eval(), report


COCO90 = coco90_class_names()


@pytest.fixture(scope="module")
def effdet_d0() -> nn.Module:
    return effdet_model("efficientdet_d0")


@pytest.mark.parametrize("variant", ["d0", pytest.param("d1", marks=pytest.mark.slow),
                                     pytest.param("d2", marks=pytest.mark.slow),
                                     pytest.param("d3", marks=pytest.mark.slow)])
def test_outputs_equal_effdets_pytorch_padding_variants(tmp_path, variant):
    reference = effdet_model(f"efficientdet_{variant}")
    model, report = converted(tmp_path, reference, variant, COCO90)
    assert len(report.loaded) == len(model.state_dict()) and not report.reinitialised
    images = torch.randn(2, 3, SIZE, SIZE)
    expected_classes, expected_boxes = effdet_outputs(reference, images, 90)
    with torch.no_grad():
        classes, boxes = model(images)
    assert_informative(expected_classes, expected_boxes)
    torch.testing.assert_close(classes, expected_classes, atol=1e-4, rtol=0)
    torch.testing.assert_close(boxes, expected_boxes, atol=1e-4, rtol=0)


def test_post_processed_detections_match_effdets(tmp_path, effdet_d0):
    reference = effdet_d0
    model, _ = converted(tmp_path, reference, "d0", COCO90)
    images = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        expected = effdet.DetBenchPredict(reference).eval()(images)  # [N, 100, 6]: x1 y1 x2 y2 score class+1
        classes, boxes = model(images)
    ours = postprocess(classes, boxes, model.anchors(SIZE), score_threshold=0.0)
    for detections, rows in zip(ours, expected):
        assert len(detections["scores"]) == 100
        torch.testing.assert_close(detections["boxes"], rows[:, :4], atol=1e-3, rtol=0)
        torch.testing.assert_close(detections["scores"], rows[:, 4], atol=1e-5, rtol=0)
        assert torch.equal(detections["labels"] + 1, rows[:, 5].long())


def test_backbone_batchnorm_takes_effdets_eps(tmp_path, effdet_d0):
    """effdet's efficientdet_* backbones are timm's, BatchNorm eps 1e-5; ours is 1e-3 (TF's) elsewhere."""
    model, report = converted(tmp_path, effdet_d0, "d0", COCO90)
    assert {m.eps for m in model.backbone.modules() if isinstance(m, nn.BatchNorm2d)} == {EFFDET_BACKBONE_BN_EPS}
    assert {m.eps for m in model.fpn.modules() if isinstance(m, nn.BatchNorm2d)} == {1e-3}
    assert "backbone BatchNorm eps 1e-05" in report.summary()


def test_training_checkpoint_wrappers_and_ddp_prefix(tmp_path, effdet_d0):
    reference = effdet_d0
    state = {f"module.{k}": v for k, v in reference.state_dict().items()}
    path = tmp_path / "checkpoint.pth"
    torch.save({"epoch": 3, "state_dict": {k: torch.zeros_like(v) for k, v in state.items()}, "state_dict_ema": state},
               path)
    model = build_efficientdet("d0", 90, image_size=SIZE)
    load_weights(model, path, COCO90, allow_new_classes=False)
    images = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(images)[0], effdet_outputs(reference, images, 90)[0], atol=1e-4,
                                   rtol=0)


def test_class_head_rows_chosen_by_name(tmp_path, effdet_d0):
    """effdet's 90 outputs are COCO category ids 1..90: a dataset of some COCO classes gets their rows."""
    reference = effdet_d0
    names = ["dog", "person", "car"]  # COCO ids 18, 1, 3
    model, report = converted(tmp_path, reference, "d0", names)
    images = torch.randn(1, 3, SIZE, SIZE)
    expected = effdet_outputs(reference, images, 90)[0][..., [17, 0, 2]]
    with torch.no_grad():
        torch.testing.assert_close(model(images)[0], expected, atol=1e-4, rtol=0)
    assert "3 classes of 90" in report.summary()


def test_other_classes_reinitialise_the_last_class_layer_only(tmp_path, effdet_d0):
    reference = effdet_d0
    model, report = converted(tmp_path, reference, "d0", ["rectangle", "ellipse", "triangle"], allow_new_classes=True)
    assert report.reinitialised == list(CLASS_LAYER)
    assert "skipped (from the file): class_net.predict.1.weight [810, 64, 1, 1], class_net.predict.1.bias [810]" \
        in report.summary()
    assert "re-initialised: class_net.predict.1.weight, class_net.predict.1.bias" in report.summary()
    bias = model.state_dict()["class_net.predict.1.bias"]
    assert bias.shape == (27,) and torch.allclose(bias, torch.full_like(bias, -4.59512), atol=1e-4)
    images = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():  # the box head is effdet's
        torch.testing.assert_close(model(images)[1], effdet_outputs(reference, images, 90)[1], atol=1e-4, rtol=0)


def test_weights_without_class_names_of_the_same_count_load_whole(tmp_path):
    reference = effdet_model("efficientdet_d0", num_classes=3)  # an effdet model fine-tuned elsewhere: no names
    model, report = converted(tmp_path, reference, "d0", ["red", "green", "blue"])
    assert len(report.loaded) == len(model.state_dict()) and "no class names recorded" in report.summary()
    images = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        torch.testing.assert_close(model(images)[0], effdet_outputs(reference, images, 3)[0], atol=1e-4, rtol=0)


def test_eval_refuses_other_classes_with_the_difference(tmp_path, effdet_d0):
    with pytest.raises(UsageError, match="the dataset has rectangle, ellipse, not in the weights"):
        converted(tmp_path, effdet_d0, "d0", ["person", "rectangle", "ellipse"])


def test_weights_of_another_variant_name_it(tmp_path):
    path = tmp_path / "d1.pth"
    torch.save(effdet_model("efficientdet_d1").state_dict(), path)
    with pytest.raises(UsageError, match="are for EfficientDet-D1, the model is D0; pass --variant d1"):
        load_weights(build_efficientdet("d0", 90, image_size=SIZE), path, COCO90, allow_new_classes=False)


@pytest.mark.parametrize("variant", ["d0", pytest.param("d1", marks=pytest.mark.slow),
                                     pytest.param("d4", marks=pytest.mark.slow),
                                     pytest.param("d7", marks=pytest.mark.slow)])
def test_outputs_equal_effdets_tf_ports_with_the_tf_layout(tmp_path, variant):
    """tf_efficientdet_*: TF "same" padding (asymmetric at stride 2) and conv biases, at two input sizes."""
    for size in (128, 96):
        reference = effdet_model(f"tf_efficientdet_{variant}", size)
        path = tmp_path / f"tf_{variant}.pth"
        torch.save(reference.state_dict(), path)
        model = build_efficientdet(variant, 90, image_size=size, tf_layout=True)
        report = load_weights(model, path, COCO90, allow_new_classes=False)
        assert report.weights.backbone_bn_eps is None  # TF's backbones use our 1e-3
        images = torch.randn(1, 3, size, size)
        expected_classes, expected_boxes = effdet_outputs(reference, images, 90)
        with torch.no_grad():
            classes, boxes = model.eval()(images)
        assert_informative(expected_classes, expected_boxes)
        torch.testing.assert_close(classes, expected_classes, atol=1e-4, rtol=0)
        torch.testing.assert_close(boxes, expected_boxes, atol=1e-4, rtol=0)


def test_tf_layout_of_weights_and_model_must_agree(tmp_path, effdet_d0):
    path = tmp_path / "tf_d0.pth"
    torch.save(effdet.create_model("tf_efficientdet_d0", pretrained=False, pretrained_backbone=False).state_dict(),
               path)
    with pytest.raises(UsageError, match="have TF EfficientDet's layout .* pass --set model_options.tf_layout=true"):
        load_weights(build_efficientdet("d0", 90, image_size=SIZE), path, COCO90, allow_new_classes=False)
    torch.save(effdet_d0.state_dict(), path)
    with pytest.raises(UsageError, match="have PyTorch padding and no conv biases; leave model option tf_layout off"):
        load_weights(build_efficientdet("d0", 90, image_size=SIZE, tf_layout=True), path, COCO90,
                     allow_new_classes=False)


def test_coco_category_table():
    """effdet's output i is COCO category id i + 1; COCO 2017 leaves ten ids unused."""
    assert len(COCO90) == 90 and COCO90[0] == "person" and COCO90[17] == "dog" and COCO90[89] == "toothbrush"
    unused = {i + 1 for i, name in enumerate(COCO90) if name.startswith("unused-")}
    assert unused == {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}


def test_a_file_that_is_not_weights(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(3)}, path)
    with pytest.raises(UsageError, match="expected a dnn-suite checkpoint or an effdet EfficientDet state dict"):
        load_weights(build_efficientdet("d0", 4, image_size=SIZE), path, ["a"] * 4, allow_new_classes=True)


class _RunsCode:
    def __reduce__(self):
        return (print, ("pwned",))


def test_weights_with_code_are_refused_not_run(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": _RunsCode()}, path)
    with pytest.raises(UsageError, match="not a readable weights file .*could run code"):
        load_weights(build_efficientdet("d0", 4, image_size=SIZE), path, ["a"] * 4, allow_new_classes=True)
    assert "pwned" not in capsys.readouterr().out
