"""`--scenario inference` on the tiny model: forward passes in eval mode under torch.inference_mode (the
tiny plugin's inference step refuses anything else), timed by the benchmark protocol, with latency
percentiles per batch; compare keeps training and inference apart."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

INFER = ("run", "tiny", "--scenario", "inference", "--warmup", "1", "--iterations", "6", "--batch-size", "4", "--json")


def _document(result) -> dict:
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_an_inference_run_records_latency_percentiles_per_batch(tiny_plugin, cli, tmp_path):
    document = _document(cli(*INFER, "--output", tmp_path))
    assert document["status"] == "ok" and document["scenario"] == "inference"
    assert document["config"]["scenario"] == "inference"
    metrics = document["metrics"]
    assert metrics["iterations"] == 6 and metrics["samples"] == 24 and metrics["loss"] is None
    inference = metrics["inference"]
    assert inference["batch_size"] == 4 and inference["samples_per_s"] == metrics["throughput"]["value"]
    latency = inference["latency_s"]
    assert 0 < latency["min"] <= latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    assert latency["p50"] == metrics["step_time_s"]["median"]
    with open(Path(document["run_dir"]) / "iterations.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 and {row["loss"] for row in rows} == {""} and all(row["samples"] == "4" for row in rows)


def test_training_stays_the_default_scenario(tiny_plugin, cli, tmp_path):
    document = _document(cli("run", "tiny", "--iterations", "2", "--json", "--output", tmp_path))
    assert document["scenario"] == "train" and "inference" not in document["metrics"]
    assert document["metrics"]["loss"] is not None


def test_the_summary_shows_the_scenario_and_latency(tiny_plugin, cli, tmp_path):
    result = cli(*INFER[:-1], "--output", tmp_path)
    assert result.code == 0, result.err
    assert "tiny small (dataset random), inference" in result.out
    (latency,) = [line for line in result.out.splitlines() if line.startswith("latency")]
    assert "per batch of 4: p50" in latency and "p99" in latency


def test_compiled_inference(tiny_plugin, cli, tmp_path):
    document = _document(cli(*INFER, "--compile", "--output", tmp_path))
    record = document["metrics"]["compile"]
    assert record["compilations"] >= 1 and record["stable"] and record["recompilations"] == 0
    assert "lazy_backward" not in record["triggers"]  # no autograd under inference_mode


def test_compare_refuses_verdicts_between_training_and_inference(tiny_plugin, cli, tmp_path):
    trained = _document(cli(*INFER[:2], *INFER[4:], "--output", tmp_path))
    inferred = _document(cli(*INFER, "--output", tmp_path))
    result = cli("compare", trained["run_dir"], inferred["run_dir"], "--ignore-busy")
    assert result.code == 0, result.err
    assert "#2: not comparable: the scenarios differ (train vs inference)" in result.out
    comparison = json.loads(cli("compare", trained["run_dir"], inferred["run_dir"], "--ignore-busy", "--json").out)
    assert comparison["runs"][1]["verdicts"] == "none" and "scenario" in comparison["differences"]
    assert {verdict for row in comparison["metrics"] for verdict in row["verdicts"][1:]} <= {"not compared", "n/a"}


def test_a_model_without_an_inference_step_is_refused(tiny_plugin, cli, tmp_path, monkeypatch):
    (tmp_path / "train_only.py").write_text(
        "from dnn_suite.hookspecs import hookimpl\n"
        "from dnn_suite.registry import ModelSpec\n"
        "@hookimpl\n"
        "def dnn_suite_register_models(register):\n"
        "    register(ModelSpec(name='trainonly', description='no inference step', variants=('v',),\n"
        "                       default_variant='v', datasets=('random',), default_dataset='random'))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DNN_SUITE_PLUGINS", "train_only")
    result = cli("run", "trainonly", "--scenario", "inference", "--output", tmp_path / "out")
    assert result.code == 2 and result.err.count("\n") == 1
    assert "model trainonly has no inference step" in result.err and "--scenario train" in result.err
    assert not (tmp_path / "out").exists()
    sys.modules.pop("train_only", None)


def test_an_unknown_scenario_is_refused(tiny_plugin, cli, tmp_path):
    result = cli("run", "tiny", "--scenario", "serve", "--output", tmp_path)
    assert result.code == 2 and "train or inference" in result.err and "'serve'" in result.err
