"""Your own data and pretrained weights through the CLI: voc:/coco: datasets, --eval-dataset,
--weights with effdet's weights for fine-tuning and evaluation."""

from __future__ import annotations

import json
import re
import warnings

import pytest
import torch

from dnn_suite.training.checkpoint import save_checkpoint
from own_data import COCO_NAMED, OWN_CLASSES, write_own_voc
from dnn_suite_efficientdet.model import build_efficientdet

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    effdet = pytest.importorskip("effdet")

SMALL = ["--image-size", "128", "--workers", "0", "--batch-size", "2"]


@pytest.fixture(scope="module")
def effdet_weights(tmp_path_factory):
    """effdet's efficientdet_d0 with random weights, saved as effdet releases them (a plain state dict)."""
    torch.manual_seed(0)
    model = effdet.create_model("efficientdet_d0", pretrained=False, pretrained_backbone=False)
    path = tmp_path_factory.mktemp("weights") / "efficientdet_d0.pth"
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def coco_named_voc(tmp_path_factory):
    return write_own_voc(tmp_path_factory.mktemp("named") / "voc", {"test": 3}, classes=COCO_NAMED)


def _error(result) -> str:
    assert result.code == 2, result.err
    line = result.err.strip().splitlines()[-1]
    assert line.startswith("dnn-suite: error:") and "Traceback" not in result.err
    return line


def _per_class_format(text: str) -> list[str]:
    """The VOC summary's lines with the numbers blanked (without the results-directory line)."""
    lines = text[text.index("mAP:"):].splitlines()
    return [re.sub(r"\d\.\d{4}|n/a \(no ground truth\)", "#", line) for line in lines
            if not line.startswith("eval: ok; results in")]


@pytest.mark.slow
def test_fine_tune_converted_90_class_effdet_on_3_classes(cli, own_voc, own_coco, effdet_weights, tmp_path):
    result = cli("train", "efficientdet", "--weights", effdet_weights, "--dataset", f"voc:{own_voc}", *SMALL,
                 "--steps", "2", "--set", "model_options.ema_decay=0", "--output", tmp_path)
    assert result.code == 0, result.err
    assert f"weights {effdet_weights}: effdet state dict, 746 tensors loaded (fine-tuning from 90 classes to 3)" \
        in result.err
    assert "re-initialised: class_net.predict.1.weight, class_net.predict.1.bias" in result.err
    assert "backbone BatchNorm eps 1e-05" in result.err
    [last] = tmp_path.glob("*/checkpoints/last.pt")
    state = torch.load(last, weights_only=True)
    assert state["class_names"] == sorted(OWN_CLASSES) and state["backbone_bn_eps"] == 1e-5
    assert state["model"]["class_net.predict.1.weight"].shape[0] == 9 * 3

    evaluated = cli("eval", "efficientdet", "--checkpoint", last, "--dataset", f"voc:{own_voc}", *SMALL,
                    "--output", tmp_path / "eval")
    assert evaluated.code == 0, evaluated.err
    assert _per_class_format(evaluated.out)[:5] == ["mAP:", "blue: #", "green: #", "red: #", "avg mAP: #"]

    refused = cli("eval", "efficientdet", "--checkpoint", last, "--dataset",
                  f"coco:{own_coco / 'annotations' / 'instances_val.json'}", *SMALL, "--output", tmp_path / "eval")
    assert "the dataset has person, dog, car, not in the checkpoint; the checkpoint has blue, green, red" \
        in _error(refused)


@pytest.mark.slow
def test_eval_with_converted_weights_prints_our_per_class_format(cli, coco_named_voc, effdet_weights, tmp_path):
    converted = cli("eval", "efficientdet", "--weights", effdet_weights, "--dataset", f"voc:{coco_named_voc}",
                    *SMALL, "--output", tmp_path)
    assert converted.code == 0, converted.err
    assert "(class head: the rows of the dataset's 3 classes of 90)" in converted.err
    own = tmp_path / "own.pt"
    save_checkpoint(own, {"model": build_efficientdet("d0", 3, image_size=128).state_dict(),
                          "class_names": sorted(COCO_NAMED)})
    ours = cli("eval", "efficientdet", "--checkpoint", own, "--dataset", f"voc:{coco_named_voc}", *SMALL,
               "--output", tmp_path)
    assert ours.code == 0, ours.err
    assert _per_class_format(converted.out) == _per_class_format(ours.out)
    assert _per_class_format(converted.out)[:5] == ["mAP:", "car: #", "dog: #", "person: #", "avg mAP: #"]


def test_eval_with_converted_weights_refuses_classes_they_lack(cli, own_voc, effdet_weights, tmp_path):
    line = _error(cli("eval", "efficientdet", "--weights", effdet_weights, "--dataset", f"voc:{own_voc}", *SMALL,
                      "--output", tmp_path))
    assert f"weights {effdet_weights} were trained on other classes: the dataset has blue, green, red, not in " \
           "the weights" in line


def test_run_evaluates_a_voc_directory_on_its_own_classes(cli, own_voc, tmp_path):
    result = cli("run", "efficientdet", "--dataset", f"voc:{own_voc}", *SMALL, "--warmup", "0", "--iterations", "1",
                 "--evaluate", "--output", tmp_path, "--json")
    assert result.code == 0, result.err
    evaluation = json.loads(result.out)["evaluation"]
    assert evaluation["dataset"] == f"voc:{own_voc}:test" and evaluation["images"] == 4
    assert sorted(evaluation["per_class_ap"]) == sorted(OWN_CLASSES)


def test_eval_dataset_from_suite_yaml_must_have_the_training_classes(cli, own_voc, own_coco, tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"benchmarks:\n  mine:\n    model: efficientdet\n    dataset: voc:{own_voc}\n"
                     f"    eval_dataset: coco:{own_coco / 'annotations' / 'instances_val.json'}\n")
    line = _error(cli("run", "--config", suite, "mine", *SMALL, "--warmup", "0", "--iterations", "1",
                      "--evaluate", "--output", tmp_path))
    assert "evaluation dataset coco:" in line and "has other classes than the training dataset voc:" in line
    assert "evaluation has person, dog, car, not in training" in line


def test_coco_file_trains_and_evaluates_on_the_val_file_beside_it(cli, own_coco, tmp_path):
    train = own_coco / "annotations" / "instances_train.json"
    result = cli("run", "efficientdet", "--dataset", f"coco:{train}", *SMALL, "--warmup", "0", "--iterations", "1",
                 "--evaluate", "--output", tmp_path, "--json")
    assert result.code == 0, result.err
    evaluation = json.loads(result.out)["evaluation"]
    assert evaluation["metric"] == "coco" and evaluation["images"] == 4
    assert evaluation["dataset"] == f"coco:{own_coco / 'annotations' / 'instances_val.json'}"


def test_unknown_dataset_lists_the_specs(cli, tmp_path):
    line = _error(cli("run", "efficientdet", "--dataset", "yolo:/data", "--output", tmp_path))
    assert "unknown dataset 'yolo:/data'" in line and "voc:..., coco:..." in line
    line = _error(cli("run", "efficientdet", "--dataset", f"voc:{tmp_path / 'nowhere'}", *SMALL,
                      "--output", tmp_path))
    assert f"expected the directory {tmp_path / 'nowhere'}" in line
