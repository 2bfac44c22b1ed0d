"""What people read: summary units, clean stderr under the torch profiler, the cpu sampler's
figures, counts kept off the loss plot."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from dnn_suite.metrics import readable
from dnn_suite.reporting import plots
from dnn_suite.reporting.report import RunSections
from dnn_suite.reporting.rundirs import load_run
from dnn_suite.run.summary_table import format_summary


@pytest.mark.parametrize(("value", "unit", "text"), [
    (2530402304, "bytes", "2.36 GiB"), (5 * 2**20, "bytes", "5 MiB"), (1536, "bytes", "1.5 KiB"),
    (999, "bytes", "999 bytes"), (1.9e7, "us", "19 s"), (1500.0, "us", "1.5 ms"), (250_000, "ns", "250 us"),
    (12, "ns", "12 ns"), (0.0, "us", "0 s"), (7200.0, "s", "7,200 s"), (62.512, "%", "62.5 %"),
    (1234567, "cycles", "1,234,567 cycles"), (None, "%", "n/a %"), (3, "", "3"),
])
def test_readable(value, unit, text):
    assert readable(value, unit) == text


def _document(profilers: dict) -> dict:
    config = {"model": "tiny", "variant": "small", "dataset": "random", "device": "cpu", "batch_size": 4}
    return {"schema_version": 1, "config": config, "status": "ok", "metrics": {"memory": {"max_rss_bytes": 3 * 2**30}},
            "profilers": profilers}


def test_summary_prints_units_a_person_reads_and_run_json_keeps_exact_values():
    cpu = {"metrics": {"rss_peak": {"value": 2530402304, "unit": "bytes"}}, "error": None}
    torch = {"metrics": {"self_cpu_time_total": {"value": 1.9e7, "unit": "us"}}, "error": None}
    text = format_summary(_document({"cpu": cpu, "torch": torch}), None)
    assert "rss_peak 2.36 GiB" in text and "2530402304" not in text
    assert "self_cpu_time_total 19 s" in text and "e+07" not in text
    assert "max RSS 3 GiB" in text
    assert cpu["metrics"]["rss_peak"]["value"] == 2530402304  # formatting never rounds the record


@pytest.fixture(scope="module")
def profiled_run(tmp_path_factory):
    """One real run with the torch and cpu profilers, in a child process as a user runs it."""
    import subprocess
    import sys

    tests = Path(__file__).parents[1]
    output = tmp_path_factory.mktemp("runs")
    env = {**os.environ, "DNN_SUITE_PLUGINS": "tiny_model", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(tests / "plugins"), os.environ.get("PYTHONPATH")]))}
    env.pop("KINETO_LOG_LEVEL", None)
    completed = subprocess.run(
        [sys.executable, "-m", "dnn_suite", "--quiet", "run", "tiny", "--profiler", "torch,cpu", "--warmup", "1",
         "--iterations", "30", "--repeat", "2", "--set", "profiler_options.cpu.interval_ms=20",
         "--set", "model_options.data_delay_s=0.002", "--output", str(output), "--json"],
        capture_output=True, text=True, env=env, timeout=300)
    assert completed.returncode == 0, completed.stderr
    return completed, Path(json.loads(completed.stdout)["run_dir"])


@pytest.mark.slow
def test_torch_profiler_leaves_stderr_clean_on_cpu(profiled_run):
    completed, _ = profiled_run
    assert "gpuGetDeviceCount" not in completed.stderr and "USDT:" not in completed.stderr
    assert "ERROR" not in completed.stderr, completed.stderr


@pytest.mark.slow
def test_cpu_samples_are_possible_figures(profiled_run):
    _, run_dir = profiled_run
    with open(run_dir / "cpu" / "samples.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    firsts = [row for i, row in enumerate(rows) if i == 0 or row["window"] != rows[i - 1]["window"]]
    assert len(firsts) == 2 and all(row["process_cpu_pct"] == "" and row["interval_s"] == "" for row in firsts)
    assert all(int(row["rss_bytes"]) > 0 for row in rows)
    measured = [row for row in rows if row["interval_s"]]
    assert len(measured) >= 4
    # one process cannot use more than every core of the machine, whatever the interval
    assert all(0 <= float(row["process_cpu_pct"]) <= 100 * os.cpu_count() * 1.05 for row in measured), measured
    assert all(0 <= float(row[k]) <= 100 for row in measured for k in row if k.startswith("core"))
    metrics = json.loads((run_dir / "run.json").read_text())["profilers"]["cpu"]["metrics"]
    weighted = (sum(float(r["process_cpu_pct"]) * float(r["interval_s"]) for r in measured)
                / sum(float(r["interval_s"]) for r in measured))
    assert metrics["process_cpu_mean"]["value"] == pytest.approx(weighted)
    assert metrics["samples"]["value"] == len(rows)


def test_counts_are_plotted_apart_from_the_loss(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({**_document({}), "metrics": {"loss": {"first": 2.0}}}))
    # an EfficientDet run's iterations.csv: loss terms and the count of matched anchors
    header = ["window", "iteration", "data_wait_s", "step_s", "samples", "loss", "class_loss", "box_loss",
              "num_positives"]
    lines = [",".join(header)] + [f"0,{i},0.001,0.1,2,{2.0 - i / 10},{1.5 - i / 10},0.{i + 1},{40 + i}.0"
                                  for i in range(5)]
    (run_dir / "iterations.csv").write_text("\n".join(lines) + "\n")
    drawn = []

    def lines_spy(series, axes, **kwargs):
        drawn.append(([s.label for s in series], axes.ylabel))
        return real_lines(series, axes, **kwargs)

    real_lines = plots.lines
    monkeypatch.setattr(plots, "lines", lines_spy)
    if not plots.available():
        pytest.skip("matplotlib is not installed")
    section = RunSections(load_run(run_dir), plotting=True).loss()
    assert drawn == [(["loss", "class_loss", "box_loss"], "loss"), (["num_positives"], "value")]
    images = [block for block in section.blocks if hasattr(block, "png")]
    assert [image.name for image in images] == ["loss", "step_values"]
    assert "num_positives" in images[1].caption


def test_integer_evaluation_figures_print_as_integers():
    document = {**_document({}), "evaluation": {"images": 12, "top1": 0.5, "checked": True}}
    line = next(line for line in format_summary(document, None).splitlines() if line.startswith("evaluation"))
    assert line.split(None, 1)[1] == "images 12, top1 0.5000"


def test_the_report_shows_profiler_figures_readable_and_settings_as_resolved(tmp_path):
    """The report's profiler table: ``2.36 GiB``, not 2530402304 bytes; its configuration table: what
    the run used (``cpu (auto)``, ``2 (default for cpu)``), not ``auto`` and ``null``."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    document = _document({"cpu": {"metrics": {"rss_peak": {"value": 2530402304, "unit": "bytes"}}, "error": None}})
    document["config"].update(device="auto", workers=None, eval_dataset=None)
    document.update(device="cpu", data_loader={"workers": 2, "workers_from": "default for cpu"})
    (run_dir / "run.json").write_text(json.dumps(document))
    sections = RunSections(load_run(run_dir), plotting=False)
    metrics_table = next(block for block in sections.profiler_metrics().blocks if hasattr(block, "rows"))
    assert metrics_table.rows == [["rss_peak", "2.36 GiB", ""]]
    configuration = dict(map(tuple, sections.configuration().blocks[0].rows))
    assert (configuration["device"], configuration["workers"]) == ("cpu (auto)", "2 (default for cpu)")
    assert configuration["eval_dataset"] == "not set"
