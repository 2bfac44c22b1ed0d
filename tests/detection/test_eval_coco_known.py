"""Both COCO engines on a scene whose AP is worked out by hand: true and false positives, a crowd region."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from dnn_suite_detection.data import load_coco_json
from dnn_suite_detection.evaluate import COCO_EVALUATORS, evaluate_coco

# One image, one category; ground truth A and B (100x100: "large"), and a crowd region C.
A, B, CROWD = [10, 10, 100, 100], [300, 300, 100, 100], [500, 500, 100, 100]
# Detections by falling score. Boxes equal to the truth have IoU 1, so all ten IoU thresholds agree.
DETECTIONS = [
    ([10, 10, 100, 100], 0.9),  # A: true positive
    ([510, 510, 80, 80], 0.85),  # inside the crowd region: ignored, neither true nor false
    ([200, 10, 100, 100], 0.8),  # nothing there: false positive
    ([300, 300, 100, 100], 0.7),  # B: true positive
    ([12, 10, 100, 100], 0.6),  # A again (IoU 0.96), already taken: false positive
]
# Ranked, without the ignored one: TP FP TP FP -> (precision, recall) (1, .5) (.5, .5) (2/3, 1) (.5, 1).
# COCOeval makes precision non-increasing from the right: 1, 2/3, 2/3, .5, and reads it at the 101
# recalls 0, .01, ..., 1 at the first rank reaching each: recalls up to .5 (51 of them) read 1,
# the 50 above .5 read 2/3.
AP = (51 * 1 + 50 * 2 / 3) / 101
EXPECTED = {"AP": AP, "AP50": AP, "AP75": AP, "APs": -1.0, "APm": -1.0, "APl": AP,
            # one detection per image: only A's; ten or a hundred: both
            "AR1": 0.5, "AR10": 1.0, "AR100": 1.0, "ARs": -1.0, "ARm": -1.0, "ARl": 1.0}


def _scene(tmp_path: Path) -> Path:
    annotations = [{"id": i + 1, "image_id": 4, "category_id": 7, "bbox": box, "area": box[2] * box[3],
                    "iscrowd": int(box is CROWD)} for i, box in enumerate((A, B, CROWD))]
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({"images": [{"id": 4, "file_name": "4.jpg", "width": 640, "height": 640}],
                                "annotations": annotations, "categories": [{"id": 7, "name": "thing"}]}))
    return path


@pytest.mark.parametrize("evaluator", COCO_EVALUATORS)
def test_each_engine_gives_the_hand_worked_numbers(tmp_path: Path, evaluator: str) -> None:
    xywh = torch.tensor([box for box, _ in DETECTIONS], dtype=torch.float64)
    detections = [{"boxes": torch.cat([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1),
                   "scores": torch.tensor([score for _, score in DETECTIONS]),
                   "labels": torch.zeros(len(DETECTIONS), dtype=torch.int64)}]
    metrics = evaluate_coco(detections, [4], load_coco_json(_scene(tmp_path)), [7], evaluator=evaluator).metrics
    assert metrics == pytest.approx(EXPECTED, abs=1e-6)
