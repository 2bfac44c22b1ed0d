"""COCO evaluation, with either engine, equals running pycocotools' COCOeval by hand on the same data."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from dnn_suite_detection.data import ensure_synthetic, load_coco_json, read_coco
from dnn_suite_detection.evaluate import COCO_EVALUATORS, COCO_METRIC_NAMES, evaluate_coco, format_coco
from dnn_suite_detection.evaluate.coco import detections_to_rows

CATEGORY_IDS = (2, 9)  # contiguous label 0 -> category 2, label 1 -> category 9


def _ground_truth(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    images, annotations = [], []
    for image_id in (3, 5, 8, 13):
        images.append({"id": image_id, "file_name": f"{image_id}.jpg", "width": 640, "height": 480})
        for _ in range(4):
            x, y = rng.uniform(0, 400, 2)
            w, h = rng.choice([20.0, 60.0, 150.0]), rng.uniform(20, 150)  # small, medium and large areas
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(rng.choice(CATEGORY_IDS)),
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": int(len(annotations) == 5),  # COCOeval must ignore this one
                }
            )
    categories = [{"id": 2, "name": "bicycle"}, {"id": 9, "name": "boat"}]
    path = tmp_path / "instances_val.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path


def _detections(path: Path) -> tuple[list[int], list[dict]]:
    """Noisy copies of the ground truth plus some clutter, as a model would emit (xyxy, contiguous labels)."""
    rng = np.random.default_rng(1)
    data = json.loads(path.read_text())
    image_ids = [image["id"] for image in data["images"]]
    detections = []
    for image_id in image_ids:
        anns = [a for a in data["annotations"] if a["image_id"] == image_id]
        xywh = np.array([a["bbox"] for a in anns]) + rng.normal(0, 6, (len(anns), 4))
        clutter = np.column_stack([rng.uniform(0, 400, (3, 2)), rng.uniform(10, 100, (3, 2))])
        xywh = np.concatenate([xywh, clutter])
        labels = [CATEGORY_IDS.index(a["category_id"]) for a in anns] + rng.integers(0, 2, 3).tolist()
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1)
        detections.append(
            {
                "boxes": torch.tensor(xyxy, dtype=torch.float32),
                "scores": torch.tensor(rng.uniform(0.05, 1.0, len(xywh)), dtype=torch.float32),
                "labels": torch.tensor(labels),
            }
        )
    return image_ids, detections


def _cocoeval_by_hand(path: Path, image_ids: list[int], detections: list[dict]) -> np.ndarray:
    results = []
    for image_id, det in zip(image_ids, detections):
        for box, score, label in zip(det["boxes"].tolist(), det["scores"].tolist(), det["labels"].tolist()):
            x1, y1, x2, y2 = box
            bbox = [x1, y1, x2 - x1, y2 - y1]
            results.append({"image_id": image_id, "category_id": CATEGORY_IDS[label], "bbox": bbox, "score": score})
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(path))
        evaluator = COCOeval(truth, truth.loadRes(results), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator.stats


@pytest.mark.parametrize("evaluator", COCO_EVALUATORS)
def test_numbers_equal_cocoeval_run_directly(tmp_path: Path, capsys: pytest.CaptureFixture[str], evaluator: str) -> None:
    path = _ground_truth(tmp_path)
    image_ids, detections = _detections(path)
    result = evaluate_coco(detections, image_ids, load_coco_json(path), CATEGORY_IDS, evaluator=evaluator)
    assert capsys.readouterr().out == ""  # COCOeval's printing is captured ...
    assert "Average Precision" in result.log and "maxDets=100" in result.log  # ... and kept
    assert tuple(result.metrics) == COCO_METRIC_NAMES
    expected = _cocoeval_by_hand(path, image_ids, detections)
    if evaluator == "pycocotools":  # the same detections in the same order, the same code: exactly equal
        assert list(result.metrics.values()) == expected.tolist()
    else:  # C++ sums in another order: the last bit may differ
        assert list(result.metrics.values()) == pytest.approx(expected.tolist(), abs=1e-12)
    assert 0.05 < result.metrics["AP"] < 0.95 and result.metrics["APs"] >= 0 and result.metrics["APl"] >= 0
    assert format_coco(result).splitlines()[0] == f"AP: {result.metrics['AP']:.4f}"


def test_engines_agree_on_many_images_with_crowds_and_ties(tmp_path: Path) -> None:
    """Both engines on 200 images: crowd regions, equal scores, boxes of every area range."""
    rng = np.random.default_rng(7)
    images, annotations, detections = [], [], []
    for image_id in range(1, 201):
        images.append({"id": image_id, "file_name": f"{image_id}.jpg", "width": 640, "height": 640})
        k = int(rng.integers(0, 6))
        xy, wh = rng.uniform(0, 400, (k, 2)), np.exp(rng.uniform(np.log(8), np.log(230), (k, 2)))
        labels = rng.integers(0, 2, k)
        for box, label in zip(np.concatenate([xy, wh], 1).tolist(), labels.tolist()):
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": CATEGORY_IDS[label],
                                "bbox": box, "area": box[2] * box[3], "iscrowd": int(rng.uniform() < 0.1)})
        copies = np.concatenate([xy, wh], 1) + rng.normal(0, 5, (k, 4))
        clutter = np.column_stack([rng.uniform(0, 500, (10 - k, 2)), rng.uniform(5, 200, (10 - k, 2))])
        xywh = np.concatenate([copies, clutter])
        detections.append({"boxes": torch.tensor(np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1)),
                           "scores": torch.tensor(np.concatenate([rng.integers(3, 6, k), rng.integers(1, 4, 10 - k)])
                                                  / 5.0),  # copies score higher; many ties
                           "labels": torch.tensor(np.concatenate([labels, rng.integers(0, 2, 10 - k)]))})
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": 2, "name": "bicycle"}, {"id": 9, "name": "boat"}]}))
    truth = load_coco_json(path)
    ids = [image["id"] for image in images]
    reference = evaluate_coco(detections, ids, truth, CATEGORY_IDS, evaluator="pycocotools").metrics
    fast = evaluate_coco(detections, ids, truth, CATEGORY_IDS, evaluator="faster-coco-eval").metrics
    assert 0.05 < reference["AP"] < 0.95
    assert list(fast.values()) == pytest.approx(list(reference.values()), abs=1e-9)
    # the results index evaluate_coco builds is what pycocotools' loadRes builds: the same numbers, ties included
    with contextlib.redirect_stdout(io.StringIO()):
        by_hand = COCOeval(truth, truth.loadRes(detections_to_rows(detections, ids, CATEGORY_IDS)), "bbox")
        by_hand.evaluate()
        by_hand.accumulate()
        by_hand.summarize()
    assert list(reference.values()) == by_hand.stats.tolist()


def test_detections_of_an_image_the_ground_truth_lacks_are_refused(tmp_path: Path) -> None:
    path = _ground_truth(tmp_path)
    image_ids, detections = _detections(path)
    with pytest.raises(ValueError, match=r"^detections for image ids the ground truth does not have: \[4, 99\]$"):
        evaluate_coco(detections, [3, 4, 99, 13], load_coco_json(path), CATEGORY_IDS)
    many = [dict(detections[0]) for _ in range(7)]
    with pytest.raises(ValueError, match=r"does not have: \[4, 6, 7, 9, 10\]$"):  # the first five of six
        evaluate_coco(many, [3, 4, 6, 7, 9, 10, 11], load_coco_json(path), CATEGORY_IDS)


def test_unknown_engine_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected one of faster-coco-eval, pycocotools"):
        evaluate_coco([], [], load_coco_json(_ground_truth(tmp_path)), CATEGORY_IDS, evaluator="cocoapi")


@pytest.mark.parametrize("evaluator", COCO_EVALUATORS)
def test_no_detections_scores_zero(tmp_path: Path, evaluator: str) -> None:
    path = _ground_truth(tmp_path)
    empty = {"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.int64)}
    result = evaluate_coco([empty] * 4, [3, 5, 8, 13], load_coco_json(path), CATEGORY_IDS, evaluator=evaluator)
    assert result.metrics["AP"] == 0.0 and result.metrics["AR100"] == 0.0


def test_ground_truth_of_the_synthetic_coco_json_scores_one(tmp_path: Path) -> None:
    """The whole chain: COCO json -> dataset targets -> detections -> category ids and xywh back."""
    root = ensure_synthetic(tmp_path / "s", num_train=1, num_val=12, image_size=96, seed=0)
    dataset = read_coco(root / "annotations" / "instances_val.json", root / "images" / "val")
    detections = []
    for i in range(len(dataset)):
        truth = dataset.ground_truth(i)
        detections.append({**truth, "scores": torch.ones(len(truth["labels"]))})
    result = evaluate_coco(detections, dataset.image_ids, load_coco_json(dataset.annotation_file), dataset.category_ids)
    assert result.metrics["AP"] == pytest.approx(1.0) and result.metrics["AR100"] == pytest.approx(1.0)
