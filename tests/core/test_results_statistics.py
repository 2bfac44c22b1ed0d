"""Statistics and iteration log (dnn_suite.run.statistics), summary table (dnn_suite.run.summary_table), atomic
files (dnn_suite.atomic) and run directories (dnn_suite.run.output_dir), against numbers worked out by hand."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from dnn_suite.atomic import to_json_text, write_atomic
from dnn_suite.context import IterationRecord, WindowResult
from dnn_suite.errors import UsageError
from dnn_suite.run.output_dir import new_run_dir
from dnn_suite.run.statistics import summarize, window_metrics, write_iterations
from dnn_suite.run.summary_table import format_summary


def test_summarize_by_hand():
    # sorted 1 2 3 4 10: linear interpolation between order statistics (numpy's default, type 7):
    # p90 at rank 0.9 * 4 = 3.6 -> 4 + 0.6 * 6; p99 at 3.96 -> 4 + 0.96 * 6.
    # Sample stdev: squared deviations from 4 are 9 4 1 0 36 -> 50 / 4.
    stats = summarize([4.0, 10.0, 1.0, 3.0, 2.0])
    assert stats == pytest.approx({"mean": 4.0, "median": 3.0, "p90": 7.6, "p99": 9.76,
                                   "stdev": math.sqrt(12.5), "cv": math.sqrt(12.5) / 4, "min": 1.0, "max": 10.0})


def test_summarize_even_count_median_and_one_value():
    assert summarize([1.0, 2.0, 4.0, 8.0])["median"] == 3.0
    assert summarize([2.5]) == {"mean": 2.5, "median": 2.5, "p90": 2.5, "p99": 2.5, "stdev": 0.0, "cv": 0.0,
                                "min": 2.5, "max": 2.5}


def test_summarize_empty_and_zero_mean():
    assert summarize([]) == dict.fromkeys(("mean", "median", "p90", "p99", "stdev", "cv", "min", "max"))
    assert summarize([0.0, 0.0])["cv"] is None
    assert summarize([-1.0, 1.0])["cv"] is None  # a CV of a zero or negative mean means nothing
    assert summarize([0.25, 0.75])["cv"] == pytest.approx(math.sqrt(0.125) / 0.5)  # step times are under a second


def _record(window, iteration, data, step, samples=4, loss=1.0, **components):
    return IterationRecord(window, iteration, data, step, samples, loss, components)


def test_window_throughput_is_samples_over_wall_time():
    window = WindowResult(0, [_record(0, 0, 0.1, 0.5, samples=3), _record(0, 1, 0.1, 0.5, samples=5)], wall_s=4.0)
    assert window.samples == 8 and window.throughput == 2.0
    assert WindowResult(1, [_record(1, 0, 0.0, 0.1)], wall_s=0.0).throughput == 0.0


def test_window_metrics_by_hand():
    first = WindowResult(0, [_record(0, 0, 0.1, 0.5, loss=3.0), _record(0, 1, 0.3, 1.5, loss=2.0)], wall_s=2.5)
    second = WindowResult(1, [_record(1, 0, 0.0, 1.0, loss=1.0)], wall_s=1.0, interrupted=True)
    metrics = window_metrics([first, second])
    assert metrics["throughput"] == {"value": pytest.approx(12 / 3.5), "unit": "samples/s"}
    assert (metrics["samples"], metrics["iterations"], metrics["window_time_s"]) == (12, 3, 3.5)
    assert metrics["step_time_s"]["mean"] == pytest.approx(1.0) and metrics["step_time_s"]["max"] == 1.5
    assert metrics["data_wait_s"]["mean"] == pytest.approx(0.4 / 3) and metrics["data_wait_s"]["min"] == 0.0
    assert metrics["data_loading_share"] == pytest.approx(0.4 / 3.4)
    assert metrics["loss"] == {"first": 3.0, "last": 1.0, "mean": 2.0}
    assert metrics["windows"] == [
        {"index": 0, "samples": 8, "iterations": 2, "wall_s": 2.5, "throughput": 3.2, "interrupted": False},
        {"index": 1, "samples": 4, "iterations": 1, "wall_s": 1.0, "throughput": 4.0, "interrupted": True},
    ]
    spread = metrics["throughput_spread"]
    assert spread["mean"] == pytest.approx(3.6) and spread["stdev"] == pytest.approx(math.sqrt(0.32))
    assert (spread["min"], spread["max"]) == (3.2, 4.0)


def test_window_metrics_of_sub_second_windows():
    metrics = window_metrics([WindowResult(0, [_record(0, 0, 0.05, 0.15, samples=2)], wall_s=0.25)])
    assert metrics["throughput"]["value"] == pytest.approx(8.0) and metrics["data_loading_share"] == pytest.approx(0.25)


def test_window_metrics_counts_a_step_once_however_many_ranks():
    records = [IterationRecord(0, i, 0.0, 1.0, 2, 1.0, {}, rank) for i in range(2) for rank in range(2)]
    metrics = window_metrics([WindowResult(0, records, wall_s=2.0)])
    assert metrics["iterations"] == 2 and metrics["samples"] == 8 and metrics["throughput"]["value"] == 4.0


def test_window_metrics_without_time_or_iterations():
    metrics = window_metrics([WindowResult(0, [], wall_s=0.0)])
    assert metrics["throughput"]["value"] is None and metrics["data_loading_share"] is None
    assert metrics["loss"] is None and metrics["throughput_spread"] is None
    assert metrics["step_time_s"]["mean"] is None
    # a window of zero time gives no throughput to spread over
    windows = [WindowResult(0, [_record(0, 0, 0.0, 0.0)], wall_s=0.0), WindowResult(1, [_record(1, 0, 0.0, 1.0)], 2.0)]
    assert window_metrics(windows)["throughput_spread"] is None


def _run_document():
    return {
        "status": "ok", "error": None, "device": "cpu",
        "config": {"model": "tiny", "variant": "small", "dataset": "random", "batch_size": 4, "device": "auto"},
        "metrics": {
            "throughput": {"value": 12.3456, "unit": "samples/s"}, "iterations": 7, "window_time_s": 2.2681,
            "step_time_s": {"mean": 0.25, "median": 0.2, "p90": 0.5, "cv": 0.1234},
            "data_loading_share": 0.5,
            "windows": [{}, {}], "throughput_spread": {"min": 11.5, "max": 13.25, "cv": 0.05},
            "memory": {"max_rss_bytes": 300 * 2**20, "cuda_max_allocated_bytes": 100 * 2**20,
                       "cuda_max_reserved_bytes": 128 * 2**20},
            "distributed": {"world_size": 2, "backend": "gloo"},
        },
        "profilers": {"nvml": {"metrics": {"gpu_util": {"value": 0.51234, "unit": "%"}, "samples": {"value": 40},
                                                  "a": {"value": 1}, "b": {"value": 2}, "c": {"value": 3}}},
                      "nsys": {"error": "nsys not found"}, "torch": {"metrics": {}}},
        "evaluation": {"mAP": 0.123456, "summary": "text", "AP50": 1.0, "AP75": 0.5, "APs": 0.25, "APm": 0.125},
    }


def test_format_summary_table():
    assert format_summary(_run_document(), Path("results/x")).splitlines() == [
        "model         tiny small (dataset random)",
        "device        cpu, batch size 4",
        "status        ok",
        "processes     2 (gloo), global batch size 8",
        "throughput    12.35 samples/s over 7 iterations (2.27 s)",
        "step time     mean 250.0 ms, median 200.0 ms, p90 500.0 ms, CV 12.3%",
        "data loading  50.0% of iteration time",
        "repeats       2 windows, throughput min 11.50 max 13.25 CV 5.0%",
        "peak memory   max RSS 300 MiB, CUDA allocated 100 MiB / reserved 128 MiB",
        "nvml          gpu_util 0.512 %; samples 40; a 1; b 2",
        "nsys          error: nsys not found",
        "torch         no metrics",
        "evaluation    mAP 0.1235, AP50 1.0000, AP75 0.5000, APs 0.2500",
        "results       results/x",
    ]


def test_format_summary_without_a_cv_or_a_data_share():
    run = _run_document()
    run["metrics"]["step_time_s"]["cv"] = run["metrics"]["data_loading_share"] = None
    run["metrics"]["throughput_spread"]["cv"] = None
    lines = format_summary(run, None).splitlines()
    assert lines[5].endswith("CV 0.0%") and lines[6] == "data loading  0.0% of iteration time"
    assert lines[7].endswith("CV 0.0%")


def test_format_summary_of_a_failed_run_without_metrics():
    run = {"status": "failed", "error": "loss is nan", "device": "cpu", "metrics": None,
           "config": {"model": "tiny", "variant": "small", "dataset": "random", "batch_size": 4, "device": "cpu"}}
    assert format_summary(run, None).splitlines() == [
        "model   tiny small (dataset random)", "device  cpu, batch size 4", "status  failed: loss is nan"]
    del run["device"]
    run["metrics"] = {"memory": {"max_rss_bytes": 2**20}}
    assert format_summary(run, None).splitlines()[1:] == ["device       cpu, batch size 4", "status       failed: loss is nan",
                                                         "peak memory  max RSS 1 MiB"]


def test_json_text_stores_non_finite_numbers_as_null_and_numpy_as_numbers(tmp_path):
    class Reported:
        def to_json(self):
            return {"inner": [1.0, float("inf")]}

    text = to_json_text({"a": float("nan"), "b": (np.float32(0.5), np.int64(3)), "c": Reported(), "d": tmp_path,
                         "e": {"f": -float("inf"), "g": "x"}})
    assert json.loads(text) == {"a": None, "b": [0.5, 3], "c": {"inner": [1.0, None]}, "d": str(tmp_path),
                                "e": {"f": None, "g": "x"}}
    assert text.endswith("}\n") and text.startswith('{\n  "a": null')
    with pytest.raises(TypeError, match="cannot serialise set to JSON"):
        to_json_text({"s": {1}})


def test_write_atomic_replaces_whole_files_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "run.json"
    write_atomic(target, "old")
    write_atomic(target, "néw")
    assert target.read_bytes() == "néw".encode("utf-8")
    write_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]
    with pytest.raises(IsADirectoryError):
        write_atomic(tmp_path, "x")  # a failed write removes its temporary
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_new_run_dir_never_reuses_a_directory(tmp_path, monkeypatch):
    monkeypatch.setattr("time.strftime", lambda fmt: "20260101-120000" if fmt == "%Y%m%d-%H%M%S" else fmt)
    made = [new_run_dir(tmp_path / "out", "tiny-small_bs4") for _ in range(3)]
    assert [p.name for p in made] == ["20260101-120000_tiny-small_bs4", "20260101-120000_tiny-small_bs4-2",
                                      "20260101-120000_tiny-small_bs4-3"]
    assert all(p.is_dir() and p.parent == tmp_path / "out" for p in made)
    assert new_run_dir(tmp_path / "a" / "b", "x").parent == tmp_path / "a" / "b"  # parents are created


def test_new_run_dir_gives_up_after_999_names(tmp_path, monkeypatch):
    monkeypatch.setattr("time.strftime", lambda fmt: "20260101-120000")
    for attempt in range(1, 999):
        (tmp_path / ("20260101-120000_x" + (f"-{attempt}" if attempt > 1 else ""))).mkdir()
    assert new_run_dir(tmp_path, "x").name == "20260101-120000_x-999"
    with pytest.raises(UsageError, match=f"^output directory {tmp_path}: 999 run directories named "
                                         "20260101-120000_x already exist; expected fewer$"):
        new_run_dir(tmp_path, "x")


def test_write_iterations_columns(tmp_path):
    records = [IterationRecord(0, 0, 0.001, 0.25, 4, 2.0, {"mse": 1.5, "box": 0.5}, 0),
               IterationRecord(0, 0, 0.002, 0.125, 4, 3.0, {"mse": 2.5}, 1)]
    write_iterations(tmp_path / "a.csv", records, ranks=True)
    with open(tmp_path / "a.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [["window", "iteration", "data_wait_s", "step_s", "samples", "loss", "box", "mse", "rank"],
                    ["0", "0", "0.001000000", "0.250000000", "4", "2.0", "0.5", "1.5", "0"],
                    ["0", "0", "0.002000000", "0.125000000", "4", "3.0", "", "2.5", "1"]]
    write_iterations(tmp_path / "b.csv", records[:1])
    assert (tmp_path / "b.csv").read_text().splitlines() == ["window,iteration,data_wait_s,step_s,samples,loss,box,mse",
                                                            "0,0,0.001000000,0.250000000,4,2.0,0.5,1.5"]
