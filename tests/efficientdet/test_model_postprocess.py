import torch

from dnn_suite_efficientdet.model import encode_boxes, postprocess

ANCHORS = torch.tensor([[0.0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 70, 90], [100, 0, 120, 20]])
OFF = -20.0  # logit of "no object": sigmoid ~ 2e-9


def outputs(logits: dict[tuple[int, int], float], num_anchors=4, num_classes=3, batch=1):
    """Class logits with the given (anchor, class) entries set, and zero box codes (box = anchor)."""
    class_outputs = torch.full((batch, num_anchors, num_classes), OFF)
    for (a, c), value in logits.items():
        class_outputs[:, a, c] = value
    return class_outputs, torch.zeros(batch, num_anchors, 4)


def test_known_detections_sorted_by_score():
    class_outputs, box_outputs = outputs({(2, 2): 2.0, (3, 0): 0.0})
    box_outputs[0, 3] = encode_boxes(torch.tensor([95.0, 5, 125, 15]), ANCHORS[3])
    (result,) = postprocess(class_outputs, box_outputs, ANCHORS)
    torch.testing.assert_close(result["boxes"], torch.tensor([[50.0, 50, 70, 90], [95, 5, 125, 15]]))
    torch.testing.assert_close(result["scores"], torch.sigmoid(torch.tensor([2.0, 0.0])))
    assert result["labels"].tolist() == [2, 0]


def test_nms_is_per_class():
    # Anchors 0 and 1 overlap with IoU 0.82: same class -> the weaker is suppressed, other class -> kept.
    class_outputs, box_outputs = outputs({(0, 1): 3.0, (1, 1): 2.0, (1, 0): 1.0})
    (result,) = postprocess(class_outputs, box_outputs, ANCHORS)
    assert result["labels"].tolist() == [1, 0]
    torch.testing.assert_close(result["boxes"], ANCHORS[[0, 1]])
    (loose,) = postprocess(class_outputs, box_outputs, ANCHORS, nms_iou=0.9)
    assert loose["labels"].tolist() == [1, 1, 0]


def test_score_threshold_and_empty_result():
    class_outputs, box_outputs = outputs({(0, 0): -2.0, (2, 1): -3.5})  # scores 0.119 and 0.029
    (result,) = postprocess(class_outputs, box_outputs, ANCHORS)
    assert result["labels"].tolist() == [0]
    (empty,) = postprocess(*outputs({}), ANCHORS)
    assert empty["boxes"].shape == (0, 4) and empty["scores"].shape == (0,) and empty["labels"].shape == (0,)


def test_candidates_limit_the_search():
    class_outputs, box_outputs = outputs({(2, 2): 2.0, (3, 0): 1.0, (0, 1): 0.5})
    (result,) = postprocess(class_outputs, box_outputs, ANCHORS, candidates=2)
    assert result["labels"].tolist() == [2, 0]


def test_keeps_max_detections_best():
    n = 150  # non-overlapping 10x10 anchors on a row, increasing scores
    x = torch.arange(n, dtype=torch.float32) * 20
    anchors = torch.stack([x, torch.zeros(n), x + 10, torch.full((n,), 10.0)], dim=1)
    class_outputs = torch.linspace(-1, 3, n).reshape(1, n, 1)
    (result,) = postprocess(class_outputs, torch.zeros(1, n, 4), anchors)
    assert len(result["boxes"]) == 100
    torch.testing.assert_close(result["boxes"], anchors.flip(0)[:100])
    (few,) = postprocess(class_outputs, torch.zeros(1, n, 4), anchors, max_detections=7)
    assert len(few["scores"]) == 7


def test_batch_images_are_independent_and_mapped_back():
    class_outputs, box_outputs = outputs({(0, 1): 3.0}, batch=2)
    class_outputs[1, 3, 2] = 1.0  # image 1 also sees the anchor-3 box, class 2
    box_outputs[:, 3] = encode_boxes(torch.tensor([96.0, -4, 130, 20]), ANCHORS[3])
    results = postprocess(class_outputs, box_outputs, ANCHORS, image_scales=torch.tensor([1.0, 2.0]),
                          original_sizes=torch.tensor([[100, 200], [8, 60]]))
    # Image 0: unscaled, inside its 100x200 image. Image 1: the same box (not suppressed by image 0's),
    # divided by 2 and clipped to height 8 / width 60, then its class-2 box likewise.
    torch.testing.assert_close(results[0]["boxes"], torch.tensor([[0.0, 0, 10, 10]]))
    torch.testing.assert_close(results[1]["boxes"], torch.tensor([[0.0, 0, 5, 5], [48, 0, 60, 8]]))
    assert [r["labels"].tolist() for r in results] == [[1], [1, 2]]
