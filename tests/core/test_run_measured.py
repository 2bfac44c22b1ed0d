"""A real `dnn-suite run tiny`: run.json's statistics recomputed from its own iterations.csv.

The oracle is Python's ``statistics`` module, not numpy: the percentiles (docs/testing.md) are linear
interpolation between order statistics, which is ``statistics.quantiles(method="inclusive")``.
"""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest

CSV_RESOLUTION = 1e-9  # iterations.csv keeps times to the nanosecond


def _run(cli, tmp_path, *args):
    result = cli("run", "tiny", "--output", tmp_path, "--json", *args)
    assert result.code == 0, result.err
    document = json.loads(result.out)
    with open(Path(document["run_dir"]) / "iterations.csv", newline="") as handle:
        return document, list(csv.DictReader(handle))


def _expected(values):
    percentiles = statistics.quantiles(values, n=100, method="inclusive")
    mean, stdev = statistics.fmean(values), statistics.stdev(values)
    return {"mean": mean, "median": statistics.median(values), "p90": percentiles[89], "p99": percentiles[98],
            "stdev": stdev, "cv": stdev / mean, "min": min(values), "max": max(values)}


def test_statistics_equal_those_of_iterations_csv(tiny_plugin, cli, tmp_path):
    document, rows = _run(cli, tmp_path, "--warmup", "1", "--iterations", "12", "--repeat", "2",
                          "--set", "model_options.data_delay_s=0.002")
    metrics = document["metrics"]
    assert [(int(r["window"]), int(r["iteration"])) for r in rows] == [(w, i) for w in (0, 1) for i in range(12)]
    for column, key in (("step_s", "step_time_s"), ("data_wait_s", "data_wait_s")):
        values = [float(r[column]) for r in rows]
        # real clock readings, nearly all distinct (two may meet to the nanosecond): a wrong
        # statistic (the median for p90, the minimum for p99) cannot hide in ties
        assert len(set(values)) >= len(values) - 2
        assert len({_expected(values)[name] for name in ("median", "p90", "p99", "min", "max")}) == 5
        assert metrics[key] == pytest.approx(_expected(values), rel=1e-6, abs=CSV_RESOLUTION), key
    steps, waits = ([float(r[c]) for r in rows] for c in ("step_s", "data_wait_s"))
    assert metrics["data_loading_share"] == pytest.approx(sum(waits) / (sum(waits) + sum(steps)), rel=1e-6)
    assert min(waits) >= 0.002  # the delay is inside the data wait, not the step
    assert metrics["loss"]["first"] == float(rows[0]["loss"]) and metrics["loss"]["last"] == float(rows[-1]["loss"])
    assert metrics["loss"]["mean"] == pytest.approx(statistics.fmean(float(r["loss"]) for r in rows))


def test_throughput_is_samples_over_each_windows_wall_time(tiny_plugin, cli, tmp_path):
    document, rows = _run(cli, tmp_path, "--warmup", "0", "--iterations", "3", "--repeat", "3", "--batch-size", "2")
    metrics = document["metrics"]
    windows = metrics["windows"]
    assert [w["index"] for w in windows] == [0, 1, 2] and all(w["samples"] == 6 for w in windows)
    for window in windows:
        mine = [r for r in rows if int(r["window"]) == window["index"]]
        busy = sum(float(r["step_s"]) + float(r["data_wait_s"]) for r in mine)
        assert window["iterations"] == len(mine) == 3
        assert busy <= window["wall_s"] + 3 * CSV_RESOLUTION  # the window's clock covers its iterations
        assert window["throughput"] == pytest.approx(6 / window["wall_s"])
    assert metrics["window_time_s"] == pytest.approx(sum(w["wall_s"] for w in windows))
    assert metrics["throughput"]["value"] == pytest.approx(18 / metrics["window_time_s"])
    assert metrics["throughput_spread"] == pytest.approx(_expected([w["throughput"] for w in windows]))


def test_a_duration_window_stops_at_the_first_iteration_past_it(tiny_plugin, cli, tmp_path):
    document, rows = _run(cli, tmp_path, "--warmup", "0", "--duration", "0.05",
                          "--set", "model_options.data_delay_s=0.02")
    wall = document["metrics"]["windows"][0]["wall_s"]
    assert wall >= 0.05 and rows  # each batch waits 0.02 s: a few iterations, however loaded the machine
    before_last = sum(float(r["step_s"]) + float(r["data_wait_s"]) for r in rows[:-1])
    assert before_last < 0.05  # it did not run on after the duration was reached
