"""Evaluation speed and agreement: our VOC AP and COCO AP vs torchmetrics' MeanAveragePrecision.

Data: 5,000 images (``--images``) with 0-8 ground-truth boxes each (20 classes, sizes from
small to large in COCO's area ranges, 5% flagged difficult/crowd) and exactly 100 detections
per image: jittered copies of the ground truth (right and wrong class) and random boxes, with
scores that favour the good ones. Coordinates are multiples of 1/4 pixel, so that widths, heights
and areas are exact in float32 as in float64 and both sides see the same numbers.

Timed, each from the per-image tensors a model's post-processing produces to the final numbers,
ground-truth indexes built inside the timer on every side:

* ours COCO: a pycocotools ``COCO`` of the ground truth (``createIndex``), then ``evaluate_coco``
  (the 12 COCO numbers), with its default engine (faster-coco-eval) and with
  ``evaluator="pycocotools"``;
* torchmetrics: ``MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend=B)``,
  ``update`` with all images then ``compute``, B = pycocotools (its default) and faster_coco_eval;
* ours VOC: ``evaluate_voc`` (all-point AP at IoU 0.5, difficult ignored), against effdet's
  ``PascalDetectionEvaluator`` (the TF Object Detection API's PASCAL metric, as effdet's
  ``PascalEvaluator`` runs it: all-point AP at IoU 0.5, difficult ignored), fed one image at a
  time: the same definition, so the numbers must agree as well (torchmetrics has no VOC AP).

Rows with the target (>= 5x): ours (default engine) vs torchmetrics as it comes (pycocotools), and
ours VOC vs effdet's. The other rows explain: same engine on both sides (faster-coco-eval), and what
the choice of engine alone is worth (ours with pycocotools vs torchmetrics with pycocotools).

Agreement (target: equal to 1e-4): our 12 COCO numbers vs torchmetrics' map, map_50, map_75,
map_small, map_medium, map_large, mar_1, mar_10, mar_100, mar_small, mar_medium, mar_large, with
the same ground-truth areas (box areas) and crowd flags, and COCOeval's IoU and recall thresholds
passed to torchmetrics (its defaults are float32 numbers, 0.550000011920929 instead of 0.55; the
difference that makes is printed too, from one more untimed torchmetrics run).

    .venv/bin/python benchmarks/evaluation.py [--quick] [--images N] [--rounds N]
"""

from __future__ import annotations

import contextlib
import io

import ab

import numpy as np
import torch

TARGET = 5.0
NUM_CLASSES = 20
COCO_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
TM_KEYS = ("map", "map_50", "map_75", "map_small", "map_medium", "map_large", "mar_1", "mar_10", "mar_100",
           "mar_small", "mar_medium", "mar_large")


def make_data(images: int, seed: int = 0):
    """Ground truth and detections per image, as the evaluation code receives them."""
    rng = np.random.default_rng(seed)
    quarter = lambda a: np.round(a * 4) / 4  # noqa: E731
    ground_truths, detections = [], []
    for _ in range(images):
        width, height = rng.integers(300, 641), rng.integers(300, 641)
        k = int(rng.integers(0, 9))
        side = np.exp(rng.uniform(np.log(8), np.log(300), size=(k, 1))) * rng.uniform(0.6, 1.6, size=(k, 2))
        side = np.minimum(side, [width - 1, height - 1])
        xy = rng.uniform(0, 1, size=(k, 2)) * ([width, height] - side)
        gt_boxes = quarter(np.concatenate([xy, xy + side], 1))
        gt_labels = rng.integers(0, NUM_CLASSES, size=k)
        flagged = rng.uniform(size=k) < 0.05
        # 100 detections: up to 6 jittered copies per object, the rest random
        copies = min(6 * k, 60)
        source = rng.integers(0, max(k, 1), size=copies)
        if k:
            size = (gt_boxes[source, 2:] - gt_boxes[source, :2])
            jitter = rng.normal(0, 0.12, size=(copies, 4)) * np.concatenate([size, size], 1)
            copy_boxes = gt_boxes[source] + jitter
            copy_labels = np.where(rng.uniform(size=copies) < 0.8, gt_labels[source], rng.integers(0, NUM_CLASSES, copies))
            copy_scores = rng.beta(4, 2, size=copies)
        else:
            copy_boxes, copy_labels, copy_scores = np.zeros((0, 4)), np.zeros(0, int), np.zeros(0)
        rest = 100 - copies
        rside = np.exp(rng.uniform(np.log(4), np.log(400), size=(rest, 2)))
        rxy = rng.uniform(0, 1, size=(rest, 2)) * np.maximum([width, height] - rside, 1)
        det_boxes = np.concatenate([copy_boxes, np.concatenate([rxy, rxy + rside], 1)])
        det_boxes[:, 0::2] = np.clip(det_boxes[:, 0::2], 0, width)
        det_boxes[:, 1::2] = np.clip(det_boxes[:, 1::2], 0, height)
        det_boxes = quarter(det_boxes)
        det_boxes[:, 2:] = np.maximum(det_boxes[:, 2:], det_boxes[:, :2] + 0.25)
        det_scores = np.concatenate([copy_scores, rng.beta(1.5, 4, size=rest)]).astype(np.float32)
        det_labels = np.concatenate([copy_labels, rng.integers(0, NUM_CLASSES, rest)])
        order = np.argsort(-det_scores, kind="stable")
        ground_truths.append({"boxes": torch.tensor(gt_boxes, dtype=torch.float32).reshape(-1, 4),
                              "labels": torch.tensor(gt_labels, dtype=torch.int64),
                              "difficult": torch.tensor(flagged)})
        detections.append({"boxes": torch.tensor(det_boxes[order], dtype=torch.float32),
                           "scores": torch.tensor(det_scores[order], dtype=torch.float32),
                           "labels": torch.tensor(det_labels[order], dtype=torch.int64)})
    return ground_truths, detections


def coco_ground_truth(ground_truths):
    """A pycocotools COCO of the ground truth: ids 1..N, category id = label + 1, area = box area."""
    from pycocotools.coco import COCO

    images, annotations = [], []
    for index, gt in enumerate(ground_truths):
        images.append({"id": index + 1, "width": 640, "height": 640, "file_name": f"{index}.jpg"})
        for box, label, crowd in zip(gt["boxes"].tolist(), gt["labels"].tolist(), gt["difficult"].tolist()):
            w, h = box[2] - box[0], box[3] - box[1]
            annotations.append({"id": len(annotations) + 1, "image_id": index + 1, "category_id": label + 1,
                                "bbox": [box[0], box[1], w, h], "area": w * h, "iscrowd": int(crowd)})
    coco = COCO()
    coco.dataset = {"images": images, "annotations": annotations,
                    "categories": [{"id": c + 1, "name": str(c)} for c in range(NUM_CLASSES)]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def torchmetrics_map(ground_truths, detections, backend: str, iou_thresholds="coco") -> dict[str, float]:
    """torchmetrics' numbers; ``iou_thresholds="coco"`` passes COCOeval's own float64 IoU and recall
    thresholds, None leaves torchmetrics' defaults (float32 values: 0.550000011920929 for 0.55)."""
    from torchmetrics.detection import MeanAveragePrecision

    from pycocotools.cocoeval import Params

    coco = iou_thresholds == "coco"
    params = Params(iouType="bbox")
    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend=backend,
                                  iou_thresholds=params.iouThrs.tolist() if coco else iou_thresholds,
                                  rec_thresholds=params.recThrs.tolist() if coco else None)
    targets = [{"boxes": g["boxes"], "labels": g["labels"], "iscrowd": g["difficult"].long(),
                "area": (g["boxes"][:, 2] - g["boxes"][:, 0]) * (g["boxes"][:, 3] - g["boxes"][:, 1])}
               for g in ground_truths]
    metric.update(detections, targets)
    with contextlib.redirect_stdout(io.StringIO()):
        result = metric.compute()
    return {k: float(v) for k, v in result.items() if v.numel() == 1}


def effdet_voc(ground_truths, detections) -> dict[str, float]:
    """effdet's PASCAL VOC metric: mAP and per-class AP (boxes yxyx, classes 1-indexed)."""
    np.float_ = np.float64  # effdet 0.4.1's TF-derived metrics still use this alias, gone in NumPy 2.0
    from effdet.evaluation.detection_evaluator import PascalDetectionEvaluator

    evaluator = PascalDetectionEvaluator([{"id": c + 1, "name": str(c)} for c in range(NUM_CLASSES)])
    for index, (gt, det) in enumerate(zip(ground_truths, detections)):
        evaluator.add_single_ground_truth_image_info(index, {
            "bbox": gt["boxes"].numpy()[:, [1, 0, 3, 2]], "cls": gt["labels"].numpy() + 1,
            "difficult": gt["difficult"].numpy()})
        evaluator.add_single_detected_image_info(index, {
            "bbox": det["boxes"].numpy()[:, [1, 0, 3, 2]], "score": det["scores"].numpy(),
            "cls": det["labels"].numpy() + 1})
    metrics = evaluator.evaluate()
    prefix = "PascalBoxes_PerformanceByCategory/AP@0.5IOU/"
    return {"mAP": metrics["PascalBoxes_Precision/mAP@0.5IOU"],
            "per_class": [metrics[prefix + str(c)] for c in range(NUM_CLASSES)]}


def main(argv=None) -> None:
    p = ab.parser(__doc__, rounds=3, quick_rounds=2)
    p.add_argument("--images", type=int, default=None, help="images (default 5000; with --quick 1000)")
    args = ab.parse(p, argv)
    images = args.images or (1000 if args.quick else 5000)

    from dnn_suite_detection.evaluate import evaluate_coco, evaluate_voc
    import effdet.evaluation  # noqa: F401  imported before the timers start, as the other engines are
    import faster_coco_eval  # noqa: F401
    import torchmetrics.detection  # noqa: F401

    ground_truths, detections = make_data(images)
    image_ids = list(range(1, images + 1))
    category_ids = list(range(1, NUM_CLASSES + 1))
    class_names = [str(c) for c in range(NUM_CLASSES)]
    results = ab.header("evaluation: ours vs torchmetrics MeanAveragePrecision", args, images=images,
                        detections_per_image=100, ground_truth_boxes=sum(len(g["labels"]) for g in ground_truths),
                        classes=NUM_CLASSES, target=TARGET)
    out: dict[str, dict] = {}

    def keep(name, fn):
        def run():
            out[name] = fn()
        return run

    ours_coco = {engine: ab.Side(f"ours COCO ({engine})", keep(f"ours_{engine}", lambda engine=engine: evaluate_coco(
        detections, image_ids, coco_ground_truth(ground_truths), category_ids, evaluator=engine).metrics),
        items=images) for engine in ("faster-coco-eval", "pycocotools")}
    tm_coco = {b: ab.Side(f"torchmetrics COCO ({b})", keep(f"tm_{b}", lambda b=b: torchmetrics_map(
        ground_truths, detections, b)), items=images) for b in ("pycocotools", "faster_coco_eval")}
    ours_voc = ab.Side("ours VOC (evaluate_voc)", keep("ours_voc", lambda: evaluate_voc(
        detections, ground_truths, class_names)), items=images)
    effdet_voc_side = ab.Side("effdet VOC (PascalDetectionEvaluator)", keep("effdet_voc", lambda: effdet_voc(
        ground_truths, detections)), items=images)

    rows = [("faster-coco-eval", "pycocotools", TARGET, ""),
            ("faster-coco-eval", "faster_coco_eval", None, " [same engine on both sides]"),
            ("pycocotools", "pycocotools", None, " [engine choice aside]")]
    for engine, backend, target, note in rows:
        ours, tm = ours_coco[engine], tm_coco[backend]
        ours.times.clear()
        tm.times.clear()
        ab.alternate([ours, tm], args.rounds, warmup=0, label="coco ")
        ab.compare(results, f"COCO AP, {images} images x 100 detections: {ours.name} vs {tm.name}{note}", ours, tm,
                   target=target, unit="images")
    ab.alternate([ours_voc, effdet_voc_side], args.rounds, warmup=0, label="voc ")
    ab.compare(results, f"VOC AP (IoU 0.5, all-point, difficult ignored), {images} images x 100 detections: "
               "ours vs effdet", ours_voc, effdet_voc_side, target=TARGET, unit="images")

    print("-- agreement of the COCO numbers (ours vs torchmetrics), target |difference| <= 1e-4")
    worst = 0.0
    ours_numbers = out["ours_faster-coco-eval"]
    others = {"ours, pycocotools engine": dict(zip(TM_KEYS, out["ours_pycocotools"].values())),
              **{f"torchmetrics, {b}": out[f"tm_{b}"] for b in ("pycocotools", "faster_coco_eval")}}
    for name, theirs in others.items():
        diffs = {k: abs(ours_numbers[k] - theirs[t]) for k, t in zip(COCO_KEYS, TM_KEYS)}
        worst = max(worst, *diffs.values())
        print(f"   {name:<30} " + "  ".join(f"{k} {ours_numbers[k]:.4f}/{theirs[t]:.4f}"
                                          for k, t in zip(COCO_KEYS, TM_KEYS)))
        print(f"   {'':<30} largest difference {max(diffs.values()):.2e} ({max(diffs, key=diffs.get)})")
    ab.record(results, "largest |difference| of the 12 COCO numbers: ours vs torchmetrics (both backends) and "
              "vs our pycocotools engine", worst, target=1e-4, unit="", at_least=False, ours=ours_numbers,
              others=others)
    defaults = torchmetrics_map(ground_truths, detections, "pycocotools", iou_thresholds=None)
    diffs = {k: abs(ours_numbers[k] - defaults[t]) for k, t in zip(COCO_KEYS, TM_KEYS)}
    print(f"   torchmetrics with its default (float32) thresholds instead: largest difference "
          f"{max(diffs.values()):.2e} ({max(diffs, key=diffs.get)}): IoUs that equal a threshold exactly "
          "(frequent with these 1/4-pixel boxes) fall on the other side of 0.550000011920929 than of 0.55")
    results["torchmetrics_default_thresholds_largest_difference"] = max(diffs.values())
    voc_difference = max(abs(a - b) for a, b in zip(out["ours_voc"].per_class_ap.values(),
                                                     out["effdet_voc"]["per_class"]))
    print(f"   VOC: ours mAP {out['ours_voc'].mean_ap:.6f}, effdet's {out['effdet_voc']['mAP']:.6f}")
    ab.record(results, "largest |difference| of the 20 per-class VOC APs: ours vs effdet", voc_difference,
              target=1e-4, unit="", at_least=False, ours_map=out["ours_voc"].mean_ap,
              effdet_map=out["effdet_voc"]["mAP"])
    ab.finish(results, args)


if __name__ == "__main__":
    main()
