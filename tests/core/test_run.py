"""`dnn-suite run` end to end on the tiny test model: run.json, iterations.csv, exit codes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest


def _load(result):
    assert result.code == 0, result.err
    document = json.loads(result.out)
    run_dir = Path(document["run_dir"])
    return document, run_dir


def test_run_writes_run_json_and_iterations(tiny_plugin, cli, tmp_path):
    result = cli("run", "tiny", "--output", tmp_path, "--warmup", "2", "--iterations", "7", "--batch-size", "4", "--json")
    document, run_dir = _load(result)
    assert run_dir.parent == tmp_path and run_dir.name.endswith("_tiny-small_bs4")
    assert document == json.loads((run_dir / "run.json").read_text())
    assert document["schema_version"] == 1 and document["status"] == "ok" and document["error"] is None
    assert document["config"]["batch_size"] == 4 and document["config"]["variant"] == "small"
    assert document["model"]["plugin"] == "tiny_model"
    assert document["environment"]["torch"] and document["environment"]["cpu_count"] >= 1
    metrics = document["metrics"]
    assert metrics["iterations"] == 7 and metrics["samples"] == 28
    for key in ("mean", "median", "p90", "p99", "stdev", "cv"):
        assert metrics["step_time_s"][key] is not None
    assert 0 <= metrics["data_loading_share"] <= 1
    assert metrics["memory"]["max_rss_bytes"] > 10 * 2**20

    with open(run_dir / "iterations.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["iteration"]) for r in rows] == list(range(7))  # warmup excluded
    assert {r["window"] for r in rows} == {"0"}
    assert "mse" in rows[0]  # loss components become columns
    # throughput is samples in the window over the synchronized window time
    samples = sum(int(r["samples"]) for r in rows)
    assert metrics["throughput"]["value"] == pytest.approx(samples / metrics["window_time_s"])
    # the window's wall time covers every iteration's data wait and step
    busy = sum(float(r["data_wait_s"]) + float(r["step_s"]) for r in rows)
    assert metrics["window_time_s"] >= busy * 0.999


def test_repeat_gives_several_windows_and_spread(tiny_plugin, cli, tmp_path):
    document, _ = _load(cli("run", "tiny", "--output", tmp_path, "--iterations", "3", "--repeat", "3", "--json"))
    metrics = document["metrics"]
    assert [w["index"] for w in metrics["windows"]] == [0, 1, 2]
    assert metrics["iterations"] == 9
    spread = metrics["throughput_spread"]
    assert spread["min"] <= spread["mean"] <= spread["max"]
    throughputs = [w["throughput"] for w in metrics["windows"]]
    assert spread["min"] == pytest.approx(min(throughputs))


def test_duration_window(tiny_plugin, cli, tmp_path):
    result = cli("run", "tiny", "--output", tmp_path, "--duration", "0.3", "--json",
                 "--set", "model_options.data_delay_s=0.02")
    metrics, _ = _load(result)
    metrics = metrics["metrics"]
    assert metrics["window_time_s"] >= 0.3
    assert metrics["iterations"] >= 5  # ~0.02 s an iteration
    assert metrics["data_loading_share"] > 0.5  # the delay is in data loading


def test_results_are_never_overwritten(tiny_plugin, cli, tmp_path):
    first = _load(cli("run", "tiny", "--output", tmp_path, "--iterations", "1", "--json"))[1]
    second = _load(cli("run", "tiny", "--output", tmp_path, "--iterations", "1", "--json"))[1]
    assert first != second and (first / "run.json").exists() and (second / "run.json").exists()
    assert not list(tmp_path.rglob("*.tmp"))


def test_summary_table_printed(tiny_plugin, cli, tmp_path):
    result = cli("run", "tiny-wide", "--output", tmp_path, "--iterations", "2")
    assert result.code == 0
    assert "tiny wide" in result.out and "samples/s" in result.out and "results" in result.out


def test_nan_loss_fails_the_run(tiny_plugin, cli, tmp_path):
    result = cli("run", "tiny", "--output", tmp_path, "--warmup", "1", "--iterations", "5",
                 "--set", "model_options.nan_at=3", "--json")
    assert result.code == 1
    document = json.loads(result.out)
    assert document["status"] == "failed"
    assert "loss is nan at iteration 2 of window 0" in document["error"]
    assert document["metrics"]["iterations"] == 2  # what was measured before is kept


def test_interrupt_records_what_was_measured(tiny_plugin, cli_process, tmp_path):
    result = cli_process("run", "tiny", "--output", tmp_path, "--warmup", "1", "--iterations", "10",
                         "--set", "model_options.interrupt_at=5", "--json")
    assert result.code == 130
    document = json.loads(result.out)
    assert document["status"] == "interrupted"
    assert document["metrics"]["iterations"] == 4
    assert document["metrics"]["windows"][0]["interrupted"] is True


def test_evaluate_after_window(tiny_plugin, cli, tmp_path):
    document, _ = _load(cli("run", "tiny", "--output", tmp_path, "--iterations", "2", "--evaluate", "--json"))
    assert document["evaluation"]["mse"] >= 0


def test_model_flag_and_set_reach_the_model(tiny_plugin, cli, tmp_path):
    document, _ = _load(cli("run", "tiny", "--output", tmp_path, "--iterations", "1", "--features", "5",
                            "--set", "model_options.lr=0.5", "--json"))
    assert document["config"]["model_options"]["features"] == 5
    assert document["config"]["model_options"]["lr"] == 0.5
