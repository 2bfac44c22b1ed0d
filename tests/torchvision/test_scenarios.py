"""torchvision models under --scenario inference at tiny sizes: a classifier and a detector forward in
eval mode (the detector with its own post-processing)."""

from __future__ import annotations

import json

import pytest
from tv_tiny import TINY

DETECTOR = ["ssdlite320_mobilenet_v3_large", "--image-size", "96", "--batch-size", "2", "--workers", "0",
            "--set", "model_options.synthetic_train=4", "--set", "model_options.synthetic_val=4"]


def _document(result) -> dict:
    assert result.code == 0, result.err
    return json.loads(result.out)


@pytest.mark.parametrize("model", [["resnet18", *TINY], DETECTOR], ids=["classifier", "detector"])
def test_inference_of_a_torchvision_model(cli, tmp_path, model):
    document = _document(cli("run", *model, "--scenario", "inference", "--warmup", "1", "--iterations", "3",
                             "--output", tmp_path, "--json"))
    assert document["scenario"] == "inference" and document["metrics"]["loss"] is None
    inference = document["metrics"]["inference"]
    assert inference["batch_size"] == document["config"]["batch_size"]
    assert 0 < inference["latency_s"]["p50"] <= inference["latency_s"]["p99"]

