import math

import pytest
import torch

from dnn_suite_efficientdet.model import (
    VARIANTS, DetectionLoss, decode_boxes, encode_boxes, generate_anchors, match_anchors,
)
from dnn_suite_efficientdet.model.loss import pad_targets

# Four hand-placed anchors (xyxy) and two classes keep every number computable by hand.
ANCHORS = torch.tensor([[0.0, 0, 10, 10], [10, 0, 20, 10], [0, 0, 20, 20], [30, 30, 40, 40]])
HALF_LN2 = 0.5**1.5 * math.log(2)  # (1 - p_t)^1.5 * cross-entropy at logit 0


def target(boxes, labels):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor(labels, dtype=torch.int64)}


def test_encode_hand_value_and_decode_roundtrip():
    codes = encode_boxes(torch.tensor([[0.0, 0, 20, 40]]), torch.tensor([[0.0, 0, 10, 10]]))
    torch.testing.assert_close(codes, torch.tensor([[1.5, 0.5, math.log(4), math.log(2)]]))  # (ty, tx, th, tw)
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(100, 2, generator=g) * 500
    boxes = torch.cat([xy, xy + 1 + torch.rand(100, 2, generator=g) * 300], 1)
    xy = torch.rand(100, 2, generator=g) * 500
    anchors = torch.cat([xy, xy + 8 + torch.rand(100, 2, generator=g) * 300], 1)
    torch.testing.assert_close(decode_boxes(encode_boxes(boxes, anchors), anchors), boxes, atol=1e-3, rtol=0)


def test_gt_equal_to_anchor_gives_exact_hand_computed_loss():
    class_outputs = torch.zeros(1, 4, 2)
    box_outputs = torch.zeros(1, 4, 4)
    box_outputs[0, 0] = torch.tensor([0.05, 0.0, 0.2, 0.0])  # the positive: errors below and above delta
    box_outputs[0, 1] = 5.0  # a negative: must not count
    loss = DetectionLoss(ANCHORS, num_classes=2)
    out = loss(class_outputs, box_outputs, [target([[0, 0, 10, 10]], [1])])
    # Only anchor 0 matches (IoU 1; anchor 2 has 0.25): one positive, normalizer 2.
    assert out["num_positives"].item() == 1
    class_loss = (0.25 + 7 * 0.75) * HALF_LN2 / 2  # 1 positive and 7 negative (anchor, class) terms
    box_loss = (0.5 * 0.05**2 + 0.1 * (0.2 - 0.05)) / (4 * 2)
    torch.testing.assert_close(out["class_loss"], torch.tensor(class_loss))
    torch.testing.assert_close(out["box_loss"], torch.tensor(box_loss))
    torch.testing.assert_close(out["loss"], torch.tensor(class_loss + 50 * box_loss))


def test_gt_equal_to_a_real_anchor_is_positive_with_zero_target():
    anchors = generate_anchors(VARIANTS["d0"], 128)
    i = 9 * 16 * 16 + 9 * 5 + 4  # P4 (after 16x16 P3 locations), row 0, column 5, scale 2^(1/3), ratio 1.4:0.7
    gt = anchors[i:i + 1]
    matched, positive = match_anchors(anchors, gt[None], torch.tensor([[0]]))
    assert positive[0, i] and matched[0, i] == 0
    assert encode_boxes(gt, anchors[i]).abs().max() < 1e-6
    # Neighbouring scales of the same shape overlap it by 2^(-2/3) ~ 0.63 >= 0.5: positives too.
    assert positive[0, i - 3] and positive[0, i + 3]


def test_low_iou_gt_is_force_matched_to_best_anchor():
    gt = torch.tensor([[[2.0, 2, 8, 14]]])  # IoU 48/124 ~ 0.39 with anchor 0, 0.18 with anchor 2
    matched, positive = match_anchors(ANCHORS, gt, torch.tensor([[1]]))
    assert positive.tolist() == [[True, False, False, False]] and matched[0, 0] == 0
    expected = torch.tensor([0.3, 0.0, math.log(1.2), math.log(0.6)])  # centre (5, 8) vs (5, 5); 6x12 vs 10x10
    torch.testing.assert_close(encode_boxes(gt[0, 0], ANCHORS[0]), expected)


def test_iou_threshold_is_inclusive():
    anchors = torch.tensor([[0.0, 0, 10, 20], [0, 0, 10, 10], [0, 0, 10, 9.9]])  # IoU 1, 0.5, 0.495
    _, positive = match_anchors(anchors, torch.tensor([[[0.0, 0, 10, 20]]]), torch.tensor([[0]]))
    assert positive.tolist() == [[True, True, False]]


def test_each_anchor_takes_its_best_gt():
    gts = torch.tensor([[[0.0, 0, 10, 12], [0, 0, 20, 20]]])
    matched, positive = match_anchors(ANCHORS, gts, torch.tensor([[0, 1]]))
    # anchor 0: IoU 0.83 with gt 0, 0.25 with gt 1; anchor 1: 0.25 with gt 1 only; anchor 2 equals gt 1.
    assert positive.tolist() == [[True, False, True, False]]
    assert matched[0, 0] == 0 and matched[0, 2] == 1


def test_forced_match_overrides_a_better_iou():
    anchors = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 11]])
    gts = torch.tensor([[[0.0, 0, 10, 11], [1, 1, 4, 4]]])
    # The small box's best anchor is anchor 0 (IoU 0.09), which the big box overlaps by 0.91;
    # the big box still has anchor 1 (IoU 1).
    matched, positive = match_anchors(anchors, gts, torch.tensor([[0, 1]]))
    assert positive.tolist() == [[True, True]] and matched.tolist() == [[1, 0]]


def test_batch_with_padding_equals_images_one_by_one():
    targets = [target([[0, 0, 10, 10]], [1]), target([[2, 2, 8, 14], [30, 30, 40, 40], [0, 0, 20, 20]], [0, 1, 0]),
               target([], [])]
    g = torch.Generator().manual_seed(0)
    class_outputs, box_outputs = torch.randn(3, 4, 2, generator=g), torch.randn(3, 4, 4, generator=g)
    loss = DetectionLoss(ANCHORS, num_classes=2)
    batch = loss(class_outputs, box_outputs, targets)
    singles = [loss(class_outputs[i:i + 1], box_outputs[i:i + 1], [t]) for i, t in enumerate(targets)]
    assert [s["num_positives"].item() for s in singles] == [1, 3, 0]
    assert batch["num_positives"].item() == 4
    # Losses are sums divided by (positives + 1): undo the normalisation to compare.
    for key, factor in (("class_loss", 1), ("box_loss", 4)):
        total = sum(s[key] * factor * (s["num_positives"] + 1) for s in singles)
        torch.testing.assert_close(batch[key] * factor * 5, total)


def test_empty_targets_are_valid_negatives():
    class_outputs = torch.zeros(2, 4, 2, requires_grad=True)
    box_outputs = torch.randn(2, 4, 4, requires_grad=True)
    out = DetectionLoss(ANCHORS, 2)(class_outputs, box_outputs, [target([], []), target([], [])])
    assert out["num_positives"].item() == 0 and out["box_loss"].item() == 0
    torch.testing.assert_close(out["class_loss"], torch.tensor(16 * 0.75 * HALF_LN2))  # normalizer 0 + 1
    out["loss"].backward()
    assert torch.isfinite(class_outputs.grad).all() and (box_outputs.grad == 0).all()


def test_no_nan_gradient_from_padding_or_degenerate_boxes():
    targets = [target([[5, 5, 5, 9]], [0]), target([[0, 0, 10, 10], [30, 30, 40, 40]], [0, 1])]  # zero-width box
    box_outputs = torch.zeros(2, 4, 4, requires_grad=True)
    out = DetectionLoss(ANCHORS, 2)(torch.zeros(2, 4, 2), box_outputs, targets)
    out["loss"].backward()
    assert out["num_positives"].item() == 2 and torch.isfinite(out["loss"])
    assert torch.isfinite(box_outputs.grad).all()


def test_loss_is_float32_under_bf16_autocast():
    g = torch.Generator().manual_seed(1)
    class_outputs = torch.randn(2, 4, 2, generator=g).bfloat16().requires_grad_()
    box_outputs = torch.randn(2, 4, 4, generator=g).bfloat16().requires_grad_()
    targets = [target([[0, 0, 10, 10]], [1]), target([[2, 2, 8, 14]], [0])]
    loss = DetectionLoss(ANCHORS, 2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = loss(class_outputs, box_outputs, targets)
    assert all(out[k].dtype == torch.float32 for k in ("loss", "class_loss", "box_loss"))
    reference = loss(class_outputs.float(), box_outputs.float(), targets)
    torch.testing.assert_close(out["loss"], reference["loss"], rtol=0, atol=0)  # same fp32 computation
    out["loss"].backward()
    assert class_outputs.grad.dtype == torch.bfloat16


def test_shape_mismatch_is_reported():
    with pytest.raises(ValueError, match="4 anchors x 3 classes"):
        DetectionLoss(ANCHORS, 3)(torch.zeros(1, 4, 2), torch.zeros(1, 4, 4), [target([], [])])


def test_focal_loss_sum_equals_the_elementwise_reference_and_its_gradient():
    from dnn_suite_efficientdet.model.loss import focal_loss, focal_loss_sum

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 500, 7, generator=g) * 4 - 3
    logits[0, :4] = torch.tensor([-40.0, -17.0, 17.0, 40.0])[:, None]  # saturated sigmoid/softplus both ways
    labels = torch.randint(0, 7, (3, 500), generator=g).masked_fill_(torch.rand(3, 500, generator=g) > 0.1, -1)
    labels[0, :4] = torch.tensor([2, -1, 5, 0])
    one_hot = torch.nn.functional.one_hot(labels.clamp(min=0), 7).float() * (labels >= 0)[..., None]
    fast, reference = logits.clone().requires_grad_(), logits.double().requires_grad_()
    focal_loss_sum(fast, labels).backward()
    expected = focal_loss(reference, one_hot.double()).sum()
    expected.backward()
    torch.testing.assert_close(focal_loss_sum(logits, labels).double(), expected.detach(), rtol=1e-6, atol=1e-4)
    torch.testing.assert_close(fast.grad.double(), reference.grad, rtol=1e-5, atol=1e-6)


def test_pad_targets_pads_with_invalid_slots_and_converts_dtypes():
    targets = [{"boxes": torch.tensor([[0, 0, 10, 10]], dtype=torch.int64),
                "labels": torch.tensor([1], dtype=torch.int32)},
               {"boxes": torch.tensor([[1.5, 2, 3, 4], [5, 6, 7, 8]], dtype=torch.float64),
                "labels": torch.tensor([0, 2], dtype=torch.int32)}]
    boxes, labels = pad_targets(targets, torch.device("cpu"))
    assert (boxes.dtype, labels.dtype) == (torch.float32, torch.int64)
    assert boxes.tolist() == [[[0, 0, 10, 10], [0, 0, 0, 0]], [[1.5, 2, 3, 4], [5, 6, 7, 8]]]
    assert labels.tolist() == [[1, -1], [0, 2]]
    boxes, labels = pad_targets([target([], []), target([], [])], torch.device("cpu"))  # no objects at all
    assert boxes.tolist() == [[[0, 0, 0, 0]], [[0, 0, 0, 0]]] and labels.tolist() == [[-1], [-1]]
    assert (boxes.dtype, labels.dtype) == (torch.float32, torch.int64)


def test_forced_match_to_the_first_box_overrides_a_better_iou():
    # As above with the boxes swapped: the small box (index 0) claims anchor 0 from the big one (index 1).
    anchors = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 11]])
    gts = torch.tensor([[[1.0, 1, 4, 4], [0, 0, 10, 11]]])
    matched, positive = match_anchors(anchors, gts, torch.tensor([[0, 1]]))
    assert positive.tolist() == [[True, True]] and matched.tolist() == [[0, 1]]
