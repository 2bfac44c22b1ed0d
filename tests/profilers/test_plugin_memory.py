"""`--profiler memory` end to end: the tiny test model (every figure known) and EfficientDet D0."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from fakes.harness import value

TINY_PARAM_BYTES = (16 * 8 + 8 + 8 * 1 + 1) * 4  # the tiny model's 'small' variant: Linear(16, 8), Linear(8, 1)


@pytest.mark.slow
def test_tiny_model_breakdown_fit_and_artefact(tiny_plugin, cli, tmp_path):
    result = cli("run", "tiny", "--profiler", "memory", "--set", "profiler_options.memory.fit_batch_sizes=[1,2]",
                 "--set", "profiler_options.memory.capacity_gib=0.5", "--warmup", 1, "--iterations", 3,
                 "--output", tmp_path, "--json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    run_dir = Path(document["run_dir"])
    report = document["profilers"]["memory"]
    assert report["error"] is None and report["artefacts"] == ["memory/memory.json"]
    metrics = report["metrics"]
    assert all("unit" in metric for metric in metrics.values())
    assert value(document, "memory", "peak.parameters") == TINY_PARAM_BYTES
    assert value(document, "memory", "after_backward.gradients") == TINY_PARAM_BYTES
    assert value(document, "memory", "peak.optimizer_state") == 0  # plain SGD keeps no state
    peak = {key[5:]: m["value"] for key, m in metrics.items() if key.startswith("peak.")}
    assert sum(v for k, v in peak.items() if k != "total") == peak["total"] == value(document, "memory", "peak_total")
    # tracked: one iteration at the run's batch size and one at each fit size, none of them measured
    assert value(document, "memory", "tracked_iterations") == 3
    assert "before measured window 1" in metrics["tracked_iterations"]["description"]
    with open(run_dir / "iterations.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 3
    # fitted on batch sizes 1 and 2, checked at the run's batch size 4
    assert value(document, "memory", "fit.check_batch_size") == 4
    assert abs(value(document, "memory", "fit.check_error")) < 10
    fixed, per_sample = value(document, "memory", "fit.total.fixed"), value(document, "memory", "fit.total.per_sample")
    assert value(document, "memory", "fit.parameters.per_sample") == 0
    assert value(document, "memory", "capacity") == 2**29
    assert value(document, "memory", "largest_batch_size") == (2**29 - fixed) // per_sample
    assert value(document, "memory", "untracked") > 0  # RSS holds far more than the model's tensors

    analyzed = cli("analyze", run_dir / "memory" / "memory.json", "--json")
    assert analyzed.code == 0, analyzed.err
    (analysis,) = json.loads(analyzed.out).values()
    tables = analysis["tables"]
    assert [row["batch_size"] for row in tables["peak_by_batch_size"]] == [1, 2, 4]
    assert [row["phase"] for row in tables["phases"]] == ["peak", "after_forward", "after_backward",
                                                          "after_optimizer_step"]


@pytest.mark.parametrize(("setting", "message"), [
    ("profiler_options.memory.iterations=0", "option 'iterations': expected a positive integer, got 0"),
    ("profiler_options.memory.fit_batch_sizes=[2]", "option 'fit_batch_sizes': expected a list of two or more"),
    ("profiler_options.memory.capacity_gib=-1", "option 'capacity_gib': expected a number of GiB >= 0, got -1.0"),
    ("profiler_options.memory.snapshot=true", "CUDA memory snapshots need a CUDA run"),
])
def test_bad_options_are_one_line(tiny_plugin, cli, tmp_path, setting, message):
    result = cli("run", "tiny", "--profiler", "memory", "--device", "cpu", "--set", setting, "--output", tmp_path)
    assert result.code == 2
    assert message in result.err and len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err


def test_analyze_refuses_a_broken_memory_file(cli, tmp_path):
    path = tmp_path / "memory.json"
    path.write_text(json.dumps({"format": "dnn-suite memory breakdown", "version": 1, "points": {}}))
    result = cli("analyze", path)
    assert result.code == 2
    assert "'points' is missing" in result.err and len(result.err.strip().splitlines()) == 1


@pytest.mark.slow
def test_efficientdet_d0_per_module_and_fit(cli, tmp_path):
    result = cli("run", "efficientdet", "--image-size", "64", "--set", "model_options.synthetic_train=8",
                 "--set", "model_options.synthetic_val=4", "--workers", "0", "--batch-size", "4", "--warmup", 1,
                 "--iterations", 1, "--profiler", "memory", "--set", "profiler_options.memory.fit_batch_sizes=[2,3]",
                 "--output", tmp_path, "--json")  # BatchNorm refuses a batch of one at the 1x1 P7 level
    assert result.code == 0, result.err
    document = json.loads(result.out)
    metrics = document["profilers"]["memory"]["metrics"]
    modules = {key.split(".")[1] for key in metrics if key.startswith("module.")}
    assert modules == {"backbone", "fpn", "class_net", "box_net", "DetectionLoss"}
    for name in ("backbone", "fpn", "class_net", "box_net"):
        assert value(document, "memory", f"module.{name}.activations") > 0
        assert value(document, "memory", f"module.{name}.gradients") == value(document, "memory", f"module.{name}.parameters")
    parameters = sum(value(document, "memory", f"module.{n}.parameters") for n in ("backbone", "fpn", "class_net", "box_net"))
    assert value(document, "memory", "peak.parameters") == parameters
    # SGD with momentum: one momentum buffer per parameter
    assert value(document, "memory", "peak.optimizer_state") == parameters
    assert value(document, "memory", "fit.check_batch_size") == 4
    assert abs(value(document, "memory", "fit.check_error")) < 10  # the acceptance bound on CPU
    assert value(document, "memory", "fit.activations.per_sample") > 0


def test_tracked_iterations_stay_outside_other_profilers_windows(tiny_plugin, cli, tmp_path):
    # memory listed first: without running outermost, torch.profiler (registered after it) would open first
    result = cli("run", "tiny", "--profiler", "memory,torch", "--warmup", 1, "--iterations", 2,
                 "--output", tmp_path, "--json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert value(document, "memory", "tracked_iterations") == 1
    rows = {row["name"]: row for row in json.loads((Path(document["run_dir"]) / "torch" / "top_ops.json").read_text())}
    assert rows["aten::addmm"]["calls"] == 2 * 2  # two Linear layers x the 2 measured iterations only


def test_a_fit_batch_size_larger_than_the_data_is_one_line(tiny_plugin, cli, tmp_path):
    result = cli("run", "tiny", "--profiler", "memory", "--set", "profiler_options.memory.fit_batch_sizes=[2,64]",
                 "--warmup", 1, "--iterations", 1, "--output", tmp_path)  # the tiny model's data has 32 samples
    assert result.code == 2
    *banner, error = result.err.strip().splitlines()  # the run had started: its banner line comes first
    assert error.startswith("dnn-suite: error: profiler memory option 'fit_batch_sizes': the training data yields "
                            "no batch of 64 samples")
    assert len(banner) == 1 and "Traceback" not in result.err
