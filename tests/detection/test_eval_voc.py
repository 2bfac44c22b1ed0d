"""VOC AP on hand-computed cases, and against a plain transcription of the devkit's loop."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from dnn_suite_detection.evaluate import VOCResult, evaluate_voc, format_voc
from dnn_suite_detection.evaluate.voc import average_precision

A, B = [0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]
MISS = [50.0, 50.0, 60.0, 60.0]


def _gt(boxes: list, labels: list, difficult: list | None = None) -> dict:
    difficult = [False] * len(labels) if difficult is None else difficult
    return {
        "boxes": torch.tensor(boxes).reshape(-1, 4),
        "labels": torch.tensor(labels, dtype=torch.int64),
        "difficult": torch.tensor(difficult, dtype=torch.bool),
    }


def _det(boxes: list, scores: list, labels: list) -> dict:
    return {
        "boxes": torch.tensor(boxes).reshape(-1, 4),
        "scores": torch.tensor(scores),
        "labels": torch.tensor(labels, dtype=torch.int64),
    }


@pytest.mark.parametrize("use_07_metric", [False, True])
def test_perfect_detections_score_one(use_07_metric: bool) -> None:
    gts = [_gt([A, B], [0, 1]), _gt([B], [1])]
    dets = [_det([A, B], [0.9, 0.8], [0, 1]), _det([B], [0.7], [1])]
    result = evaluate_voc(dets, gts, ["a", "b"], use_07_metric=use_07_metric)
    assert result.per_class_ap == {"a": 1.0, "b": 1.0} and result.mean_ap == 1.0


def test_false_positive_ranked_first() -> None:
    # 3 objects; ranked detections FP, TP, TP:  recall 0, 1/3, 2/3;  precision 0, 1/2, 2/3.
    gts = [_gt([A, B], [0, 0]), _gt([A], [0])]
    dets = [_det([MISS, A], [0.9, 0.8], [0, 0]), _det([A], [0.7], [0])]
    # All-point: envelope 2/3 over recall (0, 2/3] -> 2/3 * 2/3.
    assert evaluate_voc(dets, gts, ["a"]).mean_ap == pytest.approx(4 / 9)
    # 11-point: 2/3 at t = 0, 0.1, ..., 0.6 (7 points), 0 at t = 0.7 ... 1.0.
    assert evaluate_voc(dets, gts, ["a"], use_07_metric=True).mean_ap == pytest.approx(14 / 33)


def test_false_positive_between_true_positives() -> None:
    # Ranked TP, FP, TP of 3 objects: recall 1/3, 1/3, 2/3; precision 1, 1/2, 2/3.
    gts = [_gt([A, B], [0, 0]), _gt([A], [0])]
    dets = [_det([A, MISS], [0.9, 0.8], [0, 0]), _det([A], [0.7], [0])]
    assert evaluate_voc(dets, gts, ["a"]).mean_ap == pytest.approx(1 / 3 * 1 + 1 / 3 * 2 / 3)
    # 11-point: 1 for t <= 0.3 (4 points), 2/3 for t = 0.4, 0.5, 0.6, then 0.
    assert evaluate_voc(dets, gts, ["a"], use_07_metric=True).mean_ap == pytest.approx(6 / 11)


def test_duplicate_detection_is_a_false_positive() -> None:
    gts = [_gt([A, B], [0, 0])]
    dets = [_det([A, [0.5, 0, 10.5, 10], B], [0.9, 0.8, 0.7], [0, 0, 0])]
    # TP, FP, TP: all-point 1/2 * 1 + 1/2 * 2/3.
    assert evaluate_voc(dets, gts, ["a"]).mean_ap == pytest.approx(0.5 + 1 / 3)


def test_claimed_best_match_makes_a_false_positive_even_if_another_box_overlaps() -> None:
    # The devkit only looks at the best-overlapping box: once claimed, the detection is a FP.
    gts = [_gt([A, [2.0, 0.0, 12.0, 10.0]], [0, 0])]
    dets = [_det([A, [0.5, 0.0, 10.5, 10.0]], [0.9, 0.8], [0, 0])]  # IoU 0.90 with A, 0.74 with the other
    assert evaluate_voc(dets, gts, ["a"]).mean_ap == pytest.approx(0.5)


def test_difficult_objects_are_neither_true_nor_false_positives() -> None:
    gts = [_gt([A, B], [0, 0], [False, True])]
    dets = [_det([B, A], [0.9, 0.8], [0, 0])]  # the top detection finds the difficult object
    assert evaluate_voc(dets, gts, ["a"]).mean_ap == 1.0
    missed = [_det([B], [0.9], [0])]  # finding only the difficult object: recall 0 of 1
    assert evaluate_voc(missed, gts, ["a"]).mean_ap == 0.0
    # Only difficult objects: no positives to recall, the class has no AP.
    result = evaluate_voc(dets, [_gt([A, B], [0, 0], [True, True])], ["a"])
    assert math.isnan(result.per_class_ap["a"]) and math.isnan(result.mean_ap)


def test_class_without_ground_truth_is_left_out_of_the_mean() -> None:
    gts = [_gt([A], [0])]
    dets = [_det([A, B], [0.9, 0.95], [0, 1])]  # a confident detection of the absent class
    result = evaluate_voc(dets, gts, ["a", "b", "c"])
    assert result.per_class_ap["a"] == 1.0
    assert math.isnan(result.per_class_ap["b"]) and math.isnan(result.per_class_ap["c"])
    assert result.mean_ap == 1.0


def test_class_with_ground_truth_but_no_detections_scores_zero() -> None:
    result = evaluate_voc([_det([A], [0.9], [0])], [_gt([A, B], [0, 1])], ["a", "b"])
    assert result.per_class_ap == {"a": 1.0, "b": 0.0} and result.mean_ap == 0.5


def test_iou_threshold_is_strict_and_devkit_pixels_add_one() -> None:
    gts = [_gt([A], [0])]
    at_half = [_det([[0.0, 0.0, 10.0, 20.0]], [0.9], [0])]  # IoU exactly 100 / 200
    assert evaluate_voc(at_half, gts, ["a"]).mean_ap == 0.0
    near = [_det([[0.0, 0.0, 10.0, 20.5]], [0.9], [0])]  # IoU 0.488; with +1: 121 / 236.5 = 0.512
    assert evaluate_voc(near, gts, ["a"]).mean_ap == 0.0
    assert evaluate_voc(near, gts, ["a"], devkit_pixels=True).mean_ap == 1.0
    assert evaluate_voc(near, gts, ["a"], iou_threshold=0.45).mean_ap == 1.0


def test_format_lists_classes_then_the_mean() -> None:
    result = VOCResult({"cat": 0.5, "dog": math.nan, "cow": 0.25}, 0.375)
    assert format_voc(result).splitlines() == [
        "mAP:",
        "cat: 0.5000",
        "dog: n/a (no ground truth)",
        "cow: 0.2500",
        "avg mAP: 0.3750",
        "(VOC AP at IoU > 0.5, all-point interpolation, difficult ignored, no +1 pixel)",
    ]


def _devkit_ap(dets: list[dict], gts: list[dict], label: int, use_07_metric: bool) -> float:
    """The devkit's voc_eval for one class, transcribed loop by loop (no +1), as the oracle."""
    found = [np.zeros(int((g["labels"] == label).sum()), bool) for g in gts]
    npos = sum(int(((g["labels"] == label) & ~g["difficult"]).sum()) for g in gts)
    entries = [
        (float(score), i, box.numpy())
        for i, d in enumerate(dets)
        for box, score, lab in zip(d["boxes"], d["scores"], d["labels"])
        if lab == label
    ]
    tp, fp = [], []
    for _, i, box in sorted(entries, key=lambda e: -e[0]):
        mask = gts[i]["labels"] == label
        truth, difficult = gts[i]["boxes"][mask].numpy(), gts[i]["difficult"][mask].numpy()
        iw = np.maximum(np.minimum(truth[:, 2], box[2]) - np.maximum(truth[:, 0], box[0]), 0)
        ih = np.maximum(np.minimum(truth[:, 3], box[3]) - np.maximum(truth[:, 1], box[1]), 0)
        area = (truth[:, 2] - truth[:, 0]) * (truth[:, 3] - truth[:, 1])
        overlaps = iw * ih / ((box[2] - box[0]) * (box[3] - box[1]) + area - iw * ih)
        j = int(np.argmax(overlaps)) if len(overlaps) else -1
        if j >= 0 and overlaps[j] > 0.5:
            if difficult[j]:
                continue
            tp.append(not found[i][j])
            fp.append(bool(found[i][j]))
            found[i][j] = True
        else:
            tp.append(False)
            fp.append(True)
    rec = np.cumsum(tp) / npos
    prec = np.cumsum(tp) / np.maximum(np.cumsum(tp) + np.cumsum(fp), np.finfo(np.float64).eps)
    if use_07_metric:
        return sum((np.max(prec[rec >= t]) if np.sum(rec >= t) else 0.0) / 11 for t in np.arange(0.0, 1.1, 0.1))
    mrec, mpre = np.concatenate(([0.0], rec, [1.0])), np.concatenate(([0.0], prec, [0.0]))
    for k in range(len(mpre) - 1, 0, -1):
        mpre[k - 1] = max(mpre[k - 1], mpre[k])
    k = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[k + 1] - mrec[k]) * mpre[k + 1]))


@pytest.mark.parametrize("use_07_metric", [False, True])
def test_agrees_with_the_devkit_loop_on_random_scenes(use_07_metric: bool) -> None:
    rng = np.random.default_rng(0)
    num_classes, gts, dets = 3, [], []
    for _ in range(40):
        k = int(rng.integers(0, 6))
        corner = rng.uniform(0, 60, (k, 2))
        truth = np.concatenate([corner, corner + rng.uniform(5, 30, (k, 2))], 1)
        labels = rng.integers(0, num_classes, k)
        gts.append(_gt(truth.tolist(), labels.tolist(), (rng.random(k) < 0.2).tolist()))
        m = int(rng.integers(0, 10))
        pick = rng.integers(0, max(k, 1), m)
        near = truth[pick] + rng.normal(0, 3, (m, 4)) if k else rng.uniform(0, 60, (m, 4))
        corner = rng.uniform(0, 60, (m, 2))
        far = np.concatenate([corner, corner + rng.uniform(5, 30, (m, 2))], 1)
        boxes = np.where((rng.random(m) < 0.7)[:, None], near, far)
        det_labels = labels[pick] if k else rng.integers(0, num_classes, m)
        dets.append(_det(boxes.tolist(), rng.random(m).tolist(), det_labels.tolist()))
    result = evaluate_voc(dets, gts, ["a", "b", "c"], use_07_metric=use_07_metric)
    expected = [_devkit_ap(dets, gts, c, use_07_metric) for c in range(num_classes)]
    assert list(result.per_class_ap.values()) == pytest.approx(expected)
    assert 0.05 < result.mean_ap < 0.95  # a scene with both hits and misses


def test_inputs_may_be_numpy_and_lengths_must_match() -> None:
    gts = [{"boxes": np.array([A]), "labels": np.array([0])}]  # no difficult flags: none difficult
    dets = [{"boxes": np.array([A]), "scores": np.array([0.5]), "labels": np.array([0])}]
    assert evaluate_voc(dets, gts, ["a"]).mean_ap == 1.0
    with pytest.raises(ValueError, match="2 detection entries for 1 images"):
        evaluate_voc(dets * 2, gts, ["a"])
    with pytest.raises(ValueError, match="labels must lie in 0..0"):
        evaluate_voc([{**dets[0], "labels": np.array([1])}], gts, ["a"])


def test_settings_are_kept_in_the_result_and_stated_by_the_format() -> None:
    result = evaluate_voc([_det([A], [0.9], [0])], [_gt([A], [0])], ["a"], iou_threshold=0.7, use_07_metric=True,
                          devkit_pixels=True)
    assert (result.iou_threshold, result.use_07_metric, result.devkit_pixels) == (0.7, True, True)
    assert format_voc(result).splitlines()[-1] == (
        "(VOC AP at IoU > 0.7, 11-point (VOC2007) interpolation, difficult ignored, devkit +1 pixel)")


def test_devkit_pixels_add_exactly_one() -> None:
    # IoU of A and [0, 0, 10, 20.5]: 121 / 236.5 = 0.512 with +1 pixel, 144 / 270 = 0.533 with +2.
    near = [_det([[0.0, 0.0, 10.0, 20.5]], [0.9], [0])]
    assert evaluate_voc(near, [_gt([A], [0])], ["a"], iou_threshold=0.52, devkit_pixels=True).mean_ap == 0.0
    assert evaluate_voc(near, [_gt([A], [0])], ["a"], iou_threshold=0.51, devkit_pixels=True).mean_ap == 1.0


def test_average_precision_defaults_to_all_point() -> None:
    # TP, FP, TP of 3 objects: all-point 1/3 * 1 + 1/3 * 2/3 = 5/9; 11-point would be 6/11.
    assert average_precision(np.array([True, False, True]), 3) == pytest.approx(5 / 9)
    assert average_precision(np.array([], bool), 3) == 0.0


def test_no_images_and_images_without_detections() -> None:
    result = evaluate_voc([], [], ["a", "b"])
    assert math.isnan(result.per_class_ap["a"]) and math.isnan(result.mean_ap)
    # An image with nothing detected may come as flat empty tensors (a model's "no boxes" output).
    nothing = {"boxes": torch.zeros(0), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.int64)}
    result = evaluate_voc([nothing, _det([A], [0.9], [0])], [_gt([A], [0]), _gt([A], [0])], ["a"])
    assert result.mean_ap == pytest.approx(0.5)  # one of two objects found, at precision 1


def test_inputs_of_other_shapes_are_flattened() -> None:
    # Labels as a column and boxes as one flat row, as some exporters write them.
    gts = [{"boxes": np.array(A + B), "labels": np.array([[0], [0]]), "difficult": np.array([[False], [True]])}]
    dets = [{"boxes": np.array([A + MISS]), "scores": np.array([[0.9], [0.8]]), "labels": np.array([[0], [0]])}]
    assert evaluate_voc(dets, gts, ["a"]).mean_ap == 1.0  # B is difficult: one object, found first; MISS is a FP
    dets[0]["scores"] = np.array([[0.8], [0.9]])  # the miss ranked first: precision 1/2 at recall 1
    assert evaluate_voc(dets, gts, ["a"]).mean_ap == pytest.approx(0.5)


def test_detections_straight_from_a_model_with_gradients() -> None:
    dets = [{"boxes": torch.tensor([A], requires_grad=True), "scores": torch.tensor([0.9], requires_grad=True),
             "labels": torch.tensor([0])}]
    assert evaluate_voc(dets, [_gt([A], [0])], ["a"]).mean_ap == 1.0


def test_a_class_set_without_ground_truth_has_nan_mean_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = evaluate_voc([_det([A], [0.9], [0])], [_gt([A], [0], [True])], ["a"])
    assert math.isnan(result.mean_ap)


@pytest.mark.parametrize(("where", "message"), [("detections", "detection labels must lie in 0..1"),
                                                ("ground truths", "ground-truth labels must lie in 0..1")])
def test_label_out_of_range_says_which(where: str, message: str) -> None:
    dets, gts = [_det([A], [0.9], [0])], [_gt([A], [0])]
    if where == "detections":
        dets = [_det([A], [0.9], [2])]
    else:
        gts = [_gt([A], [-1])]
    with pytest.raises(ValueError) as error:
        evaluate_voc(dets, gts, ["a", "b"])
    assert str(error.value) == message
