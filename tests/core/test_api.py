"""The Python API: dnn_suite.run / load_run / analyze / compare, typed results, bad input raised
as UsageError with the command line's message, and the caller's process left as it was."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import dnn_suite
from dnn_suite import progress
from dnn_suite.run import backends

REPO = Path(__file__).parents[2]
REAL_TRACE = REPO / "tests" / "profilers" / "fixtures" / "kineto" / "real" / "resnet_v100_rank0.pt.trace.json.gz"
TINY = dict(iterations=3, warmup=1, workers=0)


@pytest.mark.slow  # a fresh interpreter that imports torch and benchmarks ResNet-18 twice: ~15 s
def test_the_example_script_in_a_fresh_interpreter(tmp_path):
    """examples/python_api.py checks the signal handlers, environment and warning filters itself;
    its environment lacks the variables a run would set (OMP_WAIT_POLICY, MALLOC_*)."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY" and not k.startswith("MALLOC_")}
    done = subprocess.run([sys.executable, str(REPO / "examples" / "python_api.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert "signal handlers, environment and warning filters as before" in done.stdout
    assert "refused: batch_size: expected a positive integer" in done.stdout
    assert len(list(tmp_path.glob("*/run.json"))) == 2


def test_import_dnn_suite_is_light():
    code = "import sys, dnn_suite; assert callable(dnn_suite.run); print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_run_returns_the_recorded_run_and_leaves_the_process_as_it_was(tiny_plugin, tmp_path):
    random.seed(5)
    np.random.seed(5)
    torch.manual_seed(5)
    expected_draws = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(5)
    np.random.seed(5)
    torch.manual_seed(5)
    switches, threads = backends.effective(), torch.get_num_threads()
    environment = dict(os.environ)
    handlers = [signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)]

    result = dnn_suite.run("tiny", output=tmp_path, tf32=True, cudnn_benchmark=True, seed=123, quiet=True, **TINY)

    assert result.status == "ok" and result.error is None
    assert result.run_dir.parent == tmp_path and (result.run_dir / "run.json").is_file()
    assert result.metrics["iterations"] == 3 and result.metrics["throughput"]["value"] > 0
    assert result.config["seed"] == 123 and result.document["status"] == "ok"
    assert dnn_suite.load_run(result.run_dir) == result
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected_draws
    assert backends.effective() == switches and torch.get_num_threads() == threads
    assert dict(os.environ) == environment
    assert [signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)] == handlers
    assert not progress.is_quiet()


@pytest.mark.parametrize(("model", "settings", "message"), [
    ("tiny", {"batch_size": 0}, "batch_size: expected a positive integer up to 1,048,576, got 0"),
    ("tiny", {"batchsize": 2}, "batchsize: unknown key (allowed: variant, dataset, batch_size,"),
    ("tiny", {"model_options": {"lr": "fast"}}, "model tiny option 'lr': expected float, got 'fast'"),
    ("resnet81", {}, "unknown model 'resnet81'; did you mean 'resnet18'"),
    ("tiny", {"batch_sizes": [2, 4]}, "batch_sizes [2, 4]: dnn_suite.run runs one batch size"),
])
def test_bad_input_raises_the_command_lines_message(tiny_plugin, tmp_path, model, settings, message):
    with pytest.raises(dnn_suite.UsageError) as raised:
        dnn_suite.run(model, output=tmp_path, **TINY, **settings)
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)
    assert not list(tmp_path.iterdir())  # refused before a run directory was made


def test_compare_and_load_run(tiny_plugin, tmp_path):
    runs = [dnn_suite.run("tiny", output=tmp_path, quiet=True, **TINY) for _ in range(2)]
    comparison = dnn_suite.compare(*(run.run_dir for run in runs), ignore_busy=True)
    assert [run.run_dir for run in comparison.runs] == [run.run_dir for run in runs]
    throughput = next(row for row in comparison.rows if row.headline.key == "throughput")
    assert [cell.value for cell in throughput.cells] == [run.metrics["throughput"]["value"] for run in runs]
    assert str(comparison).startswith("runs (deltas against #1")
    assert all(key in {row.headline.key for row in comparison.rows} for key, _ in comparison.regressions)

    with pytest.raises(dnn_suite.UsageError, match="compare needs at least two run directories"):
        dnn_suite.compare(runs[0].run_dir)
    with pytest.raises(dnn_suite.UsageError, match=r"not a run directory \(no run.json\)"):
        dnn_suite.load_run(tmp_path / "missing")


def test_analyze_returns_what_the_command_writes(tmp_path):
    trace = tmp_path / REAL_TRACE.name
    trace.write_bytes(REAL_TRACE.read_bytes())
    analyses = dnn_suite.analyze(trace)
    assert list(analyses) == [str(trace)]
    analysis = analyses[str(trace)]
    assert analysis["tool"] == "kineto" and "diagnosis" in analysis["tables"] and analysis["metrics"]["step.count"]
    assert (tmp_path / (trace.name + ".analysis.json")).is_file()
    with pytest.raises(dnn_suite.UsageError, match="no such file or directory"):
        dnn_suite.analyze(tmp_path / "missing.json")


def test_results_is_the_table_across_runs(tiny_plugin, tmp_path):
    runs = [dnn_suite.run("tiny", output=tmp_path, quiet=True, batch_size=batch, **TINY) for batch in (2, 4)]
    rows = dnn_suite.results(tmp_path, sort="batch_size")
    table = rows.to_dict("records") if hasattr(rows, "to_dict") else rows  # a DataFrame where pandas is installed
    assert [row["batch_size"] for row in table] == [2, 4]
    assert [row["throughput"] for row in table] == [run.metrics["throughput"]["value"] for run in runs]
    assert len(dnn_suite.results(tmp_path, where=["batch_size=4"])) == 1
    with pytest.raises(dnn_suite.UsageError, match="no such directory"):
        dnn_suite.results(tmp_path / "runs" / "none")
