"""Dataset labels (0..C-1) to each torchvision detector's convention and back: the table in
detection_models.py checked against what torchvision's own post-processing emits, and a round
trip that gives the evaluator the dataset's labels back."""

from __future__ import annotations

import pytest
import torch

from dnn_suite_detection.data import SHAPE_CLASSES, build_dataset, SyntheticConfig
from dnn_suite_detection.evaluate import evaluate_detections
from dnn_suite_torchvision.detection import to_dataset_labels, to_model_targets
from dnn_suite_torchvision.detection_models import DETECTORS, build_detector

CLASSES = 3


@pytest.mark.parametrize("name", ["ssdlite320_mobilenet_v3_large", "retinanet_resnet50_fpn"])
def test_emitted_labels_map_onto_every_dataset_class(name, monkeypatch, tmp_path):
    """With no score threshold, an untrained detector emits every class it has; mapped back,
    those are exactly the dataset's 0..C-1 (SSD never emits its background 0, RetinaNet has none)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.manual_seed(0)
    model = build_detector(name, CLASSES, 64).eval()
    model.score_thresh, model.detections_per_img = 0.0, 1000
    with torch.no_grad():
        detections = model([torch.rand(3, 64, 64)])
    labels = to_dataset_labels(detections, DETECTORS[name].label_offset)[0]["labels"]
    assert set(labels.tolist()) == set(range(CLASSES))
    assert not any(tmp_path.iterdir())  # nothing downloaded


def test_background_models_have_one_class_more():
    for name, detector in DETECTORS.items():
        expected = CLASSES + 1 if name.startswith(("fasterrcnn", "ssd")) else CLASSES
        assert detector.num_classes(CLASSES) == expected, name


@pytest.mark.parametrize("offset", [0, 1])
def test_ground_truth_round_trip_scores_perfectly(offset, tmp_path):
    dataset = build_dataset("synthetic-val", tmp_path, train=False, image_size=64,
                            synthetic=SyntheticConfig(num_train=0, num_val=6, image_size=64), letterbox=False)
    targets = [dataset[i][1] for i in range(len(dataset))]
    as_model = to_model_targets(targets, offset, torch.device("cpu"))
    assert all(torch.equal(m["labels"], t["labels"] + offset) for m, t in zip(as_model, targets))
    outputs = [{**m, "scores": torch.ones(len(m["labels"]))} for m in as_model]
    result = evaluate_detections(to_dataset_labels(outputs, offset), dataset)
    assert result["mAP"] == pytest.approx(1.0)
    assert list(result["per_class_ap"]) == list(SHAPE_CLASSES)
