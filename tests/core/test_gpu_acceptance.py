"""benchmarks/gpu/acceptance.py: its dry run on the CPU (fake ncu and pynvml), the summary it
writes, and the limits on what a GPU call may bring back (at most 8 files, none over 16 MiB,
no sub-folders)."""

from __future__ import annotations

import csv
import gzip
import importlib.util
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "gpu" / "acceptance.py"


def _module():
    spec = importlib.util.spec_from_file_location("acceptance", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _acceptance(*args, timeout=600) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=REPO)


@pytest.mark.slow
def test_dry_run_of_the_profiler_steps_writes_a_summary_and_the_raw_tool_outputs(tmp_path):
    out = tmp_path / "out"
    done = _acceptance(out, "--dry-run", "--only", "env,profilers")
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dry_run"] is True and summary["device"] == "cpu"
    assert summary["steps_failed"] == [] and summary["steps_skipped"] == []
    steps = {step["name"]: step for step in summary["steps"]}
    nvml_torch = steps["run fp32 bs2 --profiler nvml,torch"]
    assert nvml_torch["exit_code"] == 0 and nvml_torch["figures"]["status"] == "ok"
    # the mean of the samples the fake GPU 0 gave (80 +- 15 %, moving with time), as written
    with open(out / "nvml_samples.csv", newline="") as handle:
        utils = [float(row["gpu_util_pct"]) for row in csv.DictReader(handle) if row["device_index"] == "0"]
    gpu_util_mean = nvml_torch["figures"]["profiler nvml"]["gpu_util_mean"]
    assert 65 <= gpu_util_mean <= 95 and gpu_util_mean == pytest.approx(sum(utils) / len(utils), abs=0.01)
    assert nvml_torch["figures"]["timing"]["mode"] == "deferred"
    nsight = steps["run fp32 bs2 --profiler nsight"]["figures"]["profiler nsight"]
    assert isinstance(nsight, dict) and nsight, "the nsight run reported no metrics"
    analyzed = steps["analyze the ncu log"]["figures"]["ncu_bs2.log"]
    assert analyzed["fma_utilization"] == pytest.approx(40.5) and analyzed["kernel_count"] > 0  # the fake's figures
    for tool in ("nsys", "nvprof"):
        refused = steps[f"run --profiler {tool} (refused: not installed)"]
        assert refused["exit_code"] == 2 and refused["ok"] is True
    for step in summary["steps"]:
        assert step["command"][0] == sys.executable and step["seconds"] >= 0

    files = sorted(out.iterdir())
    assert all(path.is_file() for path in files)  # nothing in sub-folders
    assert len(files) <= 8 and all(path.stat().st_size < 16 * 2**20 for path in files)
    assert {p.name for p in files} == {"summary.json", "steps.log", "env.json", "runs.tar.gz", "ncu.log",
                                       "nvml_samples.csv", "torch_trace.pt.trace.json.gz"}
    assert "Metric Value" in (out / "ncu.log").read_text()  # ncu's CSV header, as the (fake) tool wrote it
    trace = json.loads(gzip.decompress((out / "torch_trace.pt.trace.json.gz").read_bytes()))
    assert any(e.get("name", "").startswith("ProfilerStep#") for e in trace["traceEvents"])  # the whole trace
    analysed = steps["analyze the torch trace (where the D0 step's time goes)"]
    assert analysed["exit_code"] == 0
    trace_figures = analysed["figures"]
    assert trace_figures["metrics"]["step.count"] == 2 and trace_figures["metrics"]["gpu_activity"] == 0  # a CPU run
    assert {row["phase"] for row in trace_figures["phases"]} >= {"data_wait", "forward", "loss", "backward",
                                                                   "optimizer"}
    assert isinstance(trace_figures["diagnosis"], list)
    with tarfile.open(out / "runs.tar.gz") as tar:
        names = tar.getnames()
    assert any(name.endswith("/run.json") for name in names) and any("/nsight/" in name for name in names)
    assert "===== analyze the ncu log: exit 0" in (out / "steps.log").read_text()


def test_an_unknown_part_or_a_used_output_directory_is_refused(tmp_path):
    done = _acceptance(tmp_path / "a", "--dry-run", "--only", "throughput,warp")
    assert done.returncode == 2 and "unknown part 'warp'" in done.stderr
    used = tmp_path / "used"
    used.mkdir()
    (used / "old.txt").write_text("x")
    done = _acceptance(used, "--dry-run")
    assert done.returncode == 2 and "is not empty" in done.stderr


def test_runs_are_packed_without_the_torch_traces_when_too_large(tmp_path, monkeypatch):
    acceptance = _module()
    runs = tmp_path / "runs" / "20261201_efficientdet-d0_bs16"
    (runs / "torch").mkdir(parents=True)
    (runs / "run.json").write_text("{}")
    (runs / "torch" / "traces").mkdir()
    (runs / "torch" / "traces" / "rank0.pt.trace.json.gz").write_bytes(os.urandom(300_000))  # incompressible
    (runs / "checkpoints").mkdir()
    (runs / "checkpoints" / "last.pt").write_bytes(os.urandom(1000))
    checkpoint = "20261201_efficientdet-d0_bs16/checkpoints/last.pt"
    monkeypatch.setattr(acceptance, "MAX_FILE_BYTES", 200_000)
    left_out = acceptance.pack(tmp_path / "runs", tmp_path / "runs.tar.gz")
    assert left_out == [checkpoint, "20261201_efficientdet-d0_bs16/torch/traces/rank0.pt.trace.json.gz"]
    with tarfile.open(tmp_path / "runs.tar.gz") as tar:
        assert tar.getnames() == ["runs/20261201_efficientdet-d0_bs16/run.json"]
    monkeypatch.setattr(acceptance, "MAX_FILE_BYTES", 15 * 2**20)
    assert acceptance.pack(tmp_path / "runs", tmp_path / "runs.tar.gz") == [checkpoint]
    with tarfile.open(tmp_path / "runs.tar.gz") as tar:
        assert "runs/20261201_efficientdet-d0_bs16/torch/traces/rank0.pt.trace.json.gz" in tar.getnames()


def test_pytest_summary_lines_become_counts():
    acceptance = _module()
    figures = acceptance.pytest_figures("....\n===== 12 passed, 3 skipped, 1 failed, 890 deselected in 61.20s =====\n")
    assert figures["passed"] == 12 and figures["skipped"] == 3 and figures["failed"] == 1
    assert figures["deselected"] == 890
