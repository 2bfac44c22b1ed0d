"""Every built-in model's train step marks the phases of dnn_suite.phases: small CPU runs under
``--profiler torch`` have each phase once, in order, inside each recorded ProfilerStep#N."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from dnn_suite.phases import PHASES

RUNS = {
    "efficientdet": ["efficientdet", "--image-size", "128", "--set", "model_options.synthetic_train=4",
                     "--set", "model_options.synthetic_val=4"],
    "torchvision classifier": ["resnet18", "--image-size", "64"],
    "torchvision detector": ["fasterrcnn_mobilenet_v3_large_fpn", "--image-size", "96",
                             "--set", "model_options.synthetic_train=4", "--set", "model_options.synthetic_val=4"],
}


@pytest.mark.slow
@pytest.mark.parametrize("model", RUNS)
def test_the_train_step_marks_every_phase(cli, tmp_path, model):
    result = cli("run", *RUNS[model], "--device", "cpu", "--batch-size", 2, "--workers", 0, "--warmup", 1,
                 "--iterations", 2, "--profiler", "torch", "--output", tmp_path, "--json")
    assert result.code == 0, result.err
    path = Path(json.loads(result.out)["run_dir"]) / "torch" / "traces" / "rank0.pt.trace.json.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        events = [e for e in json.load(f)["traceEvents"] if e.get("cat") == "user_annotation" and e.get("ph") == "X"]
    events.sort(key=lambda e: e["ts"])
    steps = [e for e in events if e["name"].startswith("ProfilerStep#")]
    assert [s["name"] for s in steps] == ["ProfilerStep#1", "ProfilerStep#2"]
    for step in steps:
        phases = [e["name"] for e in events if e["name"].startswith("dnn_suite.") and e["name"] != "dnn_suite.window"
                  and e["tid"] == step["tid"] and step["ts"] <= e["ts"] <= step["ts"] + step["dur"]]
        assert phases == [f"dnn_suite.{name}" for name in PHASES]
