"""The EfficientDet plugin through the CLI: run, eval, checkpoints and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from dnn_suite.training.checkpoint import save_checkpoint
from dnn_suite_detection.data import SHAPE_CLASSES
from dnn_suite_efficientdet.model import build_efficientdet

SMALL = ["--image-size", "128", "--set", "model_options.synthetic_train=8", "--set", "model_options.synthetic_val=4",
         "--workers", "0"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


def _json(result):
    assert result.code in (0, 1), result.err
    return json.loads(result.out)


def test_run_efficientdet_on_synthetic(cli, data_root, tmp_path):
    document = _json(cli("run", "efficientdet", *SMALL, "--data-root", data_root, "--batch-size", "2",
                         "--warmup", "1", "--iterations", "2", "--evaluate", "--output", tmp_path, "--json"))
    assert document["status"] == "ok", document["error"]
    assert document["config"]["variant"] == "d0" and document["config"]["dataset"] == "synthetic"
    metrics = document["metrics"]
    assert metrics["samples"] == 4 and metrics["throughput"]["value"] > 0
    assert metrics["loss"]["first"] > 0
    evaluation = document["evaluation"]
    assert evaluation["metric"] == "voc" and evaluation["dataset"] == "synthetic-val"
    assert set(evaluation["per_class_ap"]) == set(SHAPE_CLASSES) and evaluation["images"] == 4
    assert evaluation["image_size"] == int(SMALL[SMALL.index("--image-size") + 1])  # the size used, recorded
    rows = (Path(document["run_dir"]) / "iterations.csv").read_text().splitlines()
    assert rows[0].split(",")[-3:] == ["box_loss", "class_loss", "num_positives"]


def test_eval_checkpoint_on_synthetic_coco_with_either_engine(cli, data_root, tmp_path):
    model = build_efficientdet("d0", len(SHAPE_CLASSES), image_size=128)
    checkpoint = tmp_path / "model.pt"
    save_checkpoint(checkpoint, {"model": model.state_dict(), "class_names": list(SHAPE_CLASSES)})
    metrics = {}
    for engine in ("faster-coco-eval", "pycocotools"):
        result = cli("eval", "efficientdet", "--dataset", "synthetic-coco", "--checkpoint", checkpoint, *SMALL,
                     "--set", f"model_options.coco_evaluator={engine}", "--data-root", data_root,
                     "--output", tmp_path / engine)
        assert result.code == 0, result.err
        assert "AP50:" in result.out and "ARl:" in result.out
        (eval_json,) = (tmp_path / engine).glob("*/eval.json")
        metrics[engine] = json.loads(eval_json.read_text())["metrics"]
    assert metrics["pycocotools"]["metric"] == "coco"
    assert set(metrics["pycocotools"]) >= {"AP", "AP50", "AP75", "APs", "AR100", "ARl"}
    # An untrained model scores about zero, so its numbers cannot show the engines agree: that is
    # tested on detections of known AP in test_eval_coco_known.py and test_eval_coco.py.
    assert set(metrics["faster-coco-eval"]) == set(metrics["pycocotools"])


def test_unknown_coco_evaluator_is_refused_before_work(cli, tmp_path):
    result = cli("run", "efficientdet", *SMALL, "--set", "model_options.coco_evaluator=cocoapi",
                 "--data-root", tmp_path / "data", "--output", tmp_path)
    assert result.code == 2
    assert "option 'coco_evaluator': expected one of faster-coco-eval, pycocotools, got 'cocoapi'" in result.err
    assert "Traceback" not in result.err and not (tmp_path / "data").exists()


def test_eval_voc07_metric_flag(cli, data_root, tmp_path):
    model = build_efficientdet("d0", len(SHAPE_CLASSES), image_size=128)
    checkpoint = tmp_path / "model.pt"
    save_checkpoint(checkpoint, {"model": model.state_dict(), "class_names": list(SHAPE_CLASSES)})
    result = cli("eval", "efficientdet", "--dataset", "synthetic", "--checkpoint", checkpoint, "--voc07-metric",
                 *SMALL, "--data-root", data_root, "--output", tmp_path)
    assert result.code == 0, result.err
    assert "avg mAP:" in result.out and "11-point (VOC2007)" in result.out


def _one_line_error(result, *fragments):
    assert result.code == 2, result.err
    last = result.err.strip().splitlines()[-1]
    assert last.startswith("dnn-suite: error:") and "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in last, last


def test_wrong_checkpoint_lists_mismatched_keys(cli, data_root, tmp_path):
    checkpoint = tmp_path / "d1.pt"
    model = build_efficientdet("d1", len(SHAPE_CLASSES), image_size=128)
    save_checkpoint(checkpoint, {"model": model.state_dict(), "class_names": list(SHAPE_CLASSES)})
    result = cli("eval", "efficientdet", "--checkpoint", checkpoint, *SMALL, "--data-root", data_root,
                 "--output", tmp_path)
    _one_line_error(result, f"checkpoint {checkpoint} does not fit the model", "keys of another shape")


def test_checkpoint_of_other_classes_is_refused(cli, data_root, tmp_path):
    checkpoint = tmp_path / "voc.pt"
    save_checkpoint(checkpoint, {"model": {}, "class_names": ["aeroplane", "bicycle"]})
    _one_line_error(cli("eval", "efficientdet", "--checkpoint", checkpoint, *SMALL, "--data-root", data_root,
                        "--output", tmp_path), "was trained on 2 classes (aeroplane, bicycle...)")


def test_unreadable_checkpoint(cli, data_root, tmp_path):
    checkpoint = tmp_path / "junk.pt"
    checkpoint.write_bytes(b"not a checkpoint")
    _one_line_error(cli("eval", "efficientdet", "--checkpoint", checkpoint, *SMALL, "--data-root", data_root,
                        "--output", tmp_path), f"checkpoint {checkpoint}: not a readable checkpoint")
    _one_line_error(cli("eval", "efficientdet", "--checkpoint", tmp_path / "nope.pt", *SMALL, "--data-root",
                        data_root, "--output", tmp_path), "nope.pt: no such file")


def test_checkpoint_with_code_is_not_executed(cli, data_root, tmp_path):
    """weights_only=True: a pickle that would run code is refused, not run."""

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    checkpoint = tmp_path / "evil.pt"
    torch.save({"model": Evil()}, checkpoint)
    result = cli("eval", "efficientdet", "--checkpoint", checkpoint, *SMALL, "--data-root", data_root,
                 "--output", tmp_path)
    _one_line_error(result, "not a readable checkpoint")
    assert "pwned" not in result.out


def test_missing_voc_root_names_the_expected_path(cli, tmp_path):
    result = cli("run", "efficientdet", "--dataset", "voc2007-trainval", "--data-root", tmp_path / "nowhere",
                 "--image-size", "128", "--output", tmp_path / "out")
    _one_line_error(result, str(tmp_path / "nowhere" / "VOCdevkit" / "VOC2007"))


def test_unknown_variant_suggests(cli, tmp_path):
    _one_line_error(cli("run", "efficientdet-d9", "--output", tmp_path), "unknown model 'efficientdet-d9'",
                    "did you mean")
    _one_line_error(cli("run", "efficientdet", "--variant", "D0", "--output", tmp_path), "did you mean 'd0'")


def test_unreadable_image_in_a_worker_is_one_line(cli, tmp_path):
    root = tmp_path / "data"
    first = cli("run", "efficientdet", *SMALL, "--data-root", root, "--warmup", "0", "--iterations", "1",
                "--batch-size", "2", "--output", tmp_path / "out")
    assert first.code == 0, first.err
    victim = sorted((root / "synthetic").rglob("*.jpg"))[0]
    victim.write_bytes(b"this is not a JPEG")
    result = cli("run", "efficientdet", *[a for a in SMALL if a not in ("--workers", "0")], "--workers", "2",
                 "--data-root", root, "--warmup", "2", "--iterations", "4", "--batch-size", "4",
                 "--output", tmp_path / "out")
    _one_line_error(result, f"cannot read image {victim}")
