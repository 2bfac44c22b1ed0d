"""`--compile [MODE]` on the tiny model: the core compiles the model of any plugin, the warmup goes on
until nothing recompiles, compile time and recompilations are recorded apart from the windows.

The first compilation in a fresh inductor cache takes about half a minute on a small CPU (the C++
compiler builds its kernels); once cached, a few seconds.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from dnn_suite.run.compiling import QUIET_ITERATIONS, modes

RUN = ("run", "tiny", "--batch-size", "4", "--iterations", "4", "--json")


def _document(result) -> dict:
    assert result.code == 0, result.err
    return json.loads(result.out)


def _losses(run_dir: str) -> list[float]:
    with open(Path(run_dir) / "iterations.csv", newline="") as handle:
        return [float(row["loss"]) for row in csv.DictReader(handle)]


def test_a_compiled_run_records_its_compilation_apart_and_trains_as_eager(tiny_plugin, cli, tmp_path):
    compiled = _document(cli(*RUN, "--warmup", "1", "--compile", "--output", tmp_path))
    assert compiled["config"]["compile"] == "default"
    record = compiled["metrics"]["compile"]
    assert record["mode"] == "default" and record["compilations"] >= 1 and record["compile_time_s"] > 0
    assert "dynamo" in record["triggers"]
    # one compiling iteration, then iterations that compile nothing: the warmup goes on past --warmup 1
    assert record["stable"] and record["warmup_iterations"] == 1 + QUIET_ITERATIONS
    assert record["warmup_extra_iterations"] == QUIET_ITERATIONS
    assert record["warmup_time_s"] >= record["compile_time_s"]
    assert record["recompilations"] == 0 and record["recompilations_per_window"] == [0]
    assert compiled["metrics"]["throughput"]["value"] > 0 and compiled["metrics"]["iterations"] == 4
    # the same steps in eager mode: the same losses
    eager = _document(cli(*RUN, "--warmup", record["warmup_iterations"], "--output", tmp_path))
    assert eager["config"]["compile"] is None and "compile" not in eager["metrics"]
    assert _losses(compiled["run_dir"]) == pytest.approx(_losses(eager["run_dir"]), rel=1e-4)


def test_a_new_shape_in_the_window_is_counted_as_a_recompilation(tiny_plugin, cli, tmp_path):
    # warmup: steps 0..2 (compiled at 0), window: steps 3..6, one sample fewer from step 5 on
    document = _document(cli(*RUN, "--warmup", "1", "--compile", "--output", tmp_path,
                             "--set", "model_options.shrink_batch_at=5"))
    record = document["metrics"]["compile"]
    assert record["warmup_iterations"] == 3 and record["recompilations"] == 1
    assert record["recompile_time_s"] > 0
    assert any("1 recompilation(s) during the measured windows" in w for w in document["warnings"])


def test_the_warmup_goes_on_while_the_model_recompiles(tiny_plugin, cli, tmp_path):
    # --warmup 3: compiled at step 0, recompiled at step 2 (a new shape): two quiet steps more
    document = _document(cli(*RUN, "--warmup", "3", "--compile", "--output", tmp_path,
                             "--set", "model_options.shrink_batch_at=2"))
    record = document["metrics"]["compile"]
    assert record["warmup_iterations"] == 3 + QUIET_ITERATIONS and record["compilations"] >= 2
    assert record["stable"] and record["recompilations"] == 0


def test_the_summary_shows_the_compilation(tiny_plugin, cli, tmp_path):
    result = cli("run", "tiny", "--warmup", "1", "--iterations", "2", "--compile", "--output", tmp_path)
    assert result.code == 0, result.err
    (line,) = [line for line in result.out.splitlines() if line.startswith("compile")]
    assert "default:" in line and "s compiling" in line and "0 recompilations in the measured windows" in line


def test_a_mode_torch_does_not_offer_is_refused_in_one_line(tiny_plugin, cli, tmp_path):
    result = cli("run", "tiny", "--compile", "fastest", "--output", tmp_path)
    assert result.code == 2 and result.err.count("\n") == 1
    assert "--compile fastest: torch" in result.err and ", ".join(modes()) in result.err
    assert not list(tmp_path.iterdir())  # refused before a run directory exists
    assert cli("run", "tiny", "--compile", "Fast!", "--output", tmp_path).code == 2


def test_compare_shows_compilation_and_keeps_modes_apart(tiny_plugin, cli, tmp_path):
    compiled = _document(cli(*RUN, "--warmup", "1", "--compile", "--output", tmp_path))
    eager = _document(cli(*RUN, "--warmup", "1", "--output", tmp_path))
    result = cli("compare", eager["run_dir"], compiled["run_dir"], "--json")
    assert result.code == 0, result.err
    comparison = json.loads(result.out)
    assert comparison["differences"] == ["compile"] and comparison["runs"][1]["verdicts"] == "none"
    rows = {row["key"]: row for row in comparison["metrics"]}
    assert rows["recompilations"]["values"] == [None, 0]
    assert rows["compile_time"]["values"][1] == pytest.approx(compiled["metrics"]["compile"]["compile_time_s"])
