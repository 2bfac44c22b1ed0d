"""Batch-size sweeps: configuration, profiler passes, how a point's end is classified, and a
real sweep whose points run in their own processes, one of them killed."""

from __future__ import annotations

import json
import signal
import textwrap

import pytest

from dnn_suite.settings.resolve import load_suite, resolve
from dnn_suite.errors import UsageError
from dnn_suite.plugins import discover
from dnn_suite.reporting.rundirs import load_runs
from dnn_suite.run.sweep import _classify, profiler_passes


@pytest.fixture
def registry(tiny_plugin):
    return discover()


@pytest.mark.parametrize("chosen, passes", [
    ([], [[]]),
    (["cpu", "nvml"], [["cpu", "nvml"]]),
    (["nsys", "nsight", "nvml"], [["nsys", "nvml"], ["nsight"]]),  # like profile.sh: nvprof, then ncu
    (["nsight", "nvml", "torch"], [["nsight"], ["nvml", "torch"]]),  # ncu conflicts with samplers and torch
    (["nvprof", "nsys", "nsight", "cpu"], [["nvprof", "cpu"], ["nsys"], ["nsight"]]),
])
def test_profilers_are_split_into_passes_that_can_share_a_run(registry, chosen, passes):
    assert profiler_passes(chosen, registry) == passes


def test_batch_sizes_in_suite_yaml_mean_a_sweep_and_one_batch_size_overrides_it(registry, tmp_path):
    suite_file = tmp_path / "suite.yaml"
    suite_file.write_text(textwrap.dedent("""\
        benchmarks:
          scaling:
            model: tiny
            batch_sizes: [1, 2, 4]
            profilers: [nsys, nsight]
        """))
    suite = load_suite(suite_file)
    config = resolve("scaling", registry, suite=suite)
    assert config.batch_sizes == [1, 2, 4] and config.profilers == ["nsys", "nsight"]  # passes, not an error
    single = resolve("scaling", registry, suite=suite, flags={"batch_size": 8, "profilers": ["nsys"]})
    assert single.batch_sizes is None and single.batch_size == 8
    with pytest.raises(UsageError, match="nsys and nsight cannot be combined.*in a sweep"):
        resolve("scaling", registry, suite=suite, flags={"batch_size": 8})


def test_bad_batch_sizes_are_refused_with_their_place(registry, tmp_path):
    suite_file = tmp_path / "suite.yaml"
    suite_file.write_text("benchmarks:\n  s:\n    model: tiny\n    batch_sizes: [2, 0]\n")
    with pytest.raises(UsageError, match=r"suite.yaml:4: benchmarks.s.batch_sizes: expected a list of batch sizes \(a sweep\), each a positive"):
        load_suite(suite_file)


def test_batch_size_list_flag(tiny_plugin, cli):
    bad = cli("run", "tiny", "--batch-size", "2,x")
    assert bad.code == 2 and "--batch-size: expected a positive integer up to 1,048,576, got 'x'" in bad.err
    train = cli("train", "tiny", "--batch-size", "2,4")
    assert train.code == 2 and "a batch-size sweep is for `dnn-suite run`" in train.err


def test_a_point_that_ran_out_of_memory_is_classified_from_its_run_json(tiny_plugin, cli, tmp_path):
    result = cli("run", "tiny", "--output", tmp_path, "--iterations", "1", "--set", "model_options.oom_from_batch=1")
    assert result.code == 1
    document = json.loads(next(tmp_path.glob("*/run.json")).read_text())
    status, reason = _classify(result.code, document, result.err)
    assert status == "out_of_memory" and "CUDA out of memory" in reason


def test_how_other_ends_are_classified():
    nan = {"status": "failed", "error": "loss is nan at iteration 2 of window 0: training diverged"}
    assert _classify(1, nan, "") == ("failed", nan["error"])
    assert _classify(0, {"status": "ok", "error": None}, "") == ("ok", None)
    assert _classify(130, {"status": "interrupted", "error": "interrupted by the user"}, "")[0] == "interrupted"
    status, reason = _classify(-signal.SIGKILL, {"status": "running", "error": None}, "")
    assert status == "crashed" and reason.startswith("killed by SIGKILL (the kernel's out-of-memory killer")
    tail = "Traceback...\nRuntimeError: boom\ndnn-suite: error: cannot start 'nsys': not found on PATH"
    assert _classify(2, None, tail) == ("crashed", "dnn-suite: error: cannot start 'nsys': not found on PATH")
    assert _classify(-signal.SIGSEGV, None, "") == ("crashed", "killed by SIGSEGV")


@pytest.mark.slow
def test_sweep_runs_each_point_in_its_own_process_and_survives_a_killed_one(tiny_plugin, cli, tmp_path):
    result = cli("run", "tiny", "--batch-size", "2,4", "--warmup", "1", "--iterations", "2", "--output", tmp_path,
                 "--profiler", "cpu", "--set", "model_options.kill_from_batch=4")
    assert result.code == 1, result.err  # one point failed; the sweep itself finished
    (sweep_dir,) = tmp_path.iterdir()
    assert sweep_dir.name.endswith("_sweep_tiny-small")
    sweep = json.loads((sweep_dir / "sweep.json").read_text())
    assert sweep["status"] == "failed" and sweep["batch_sizes"] == [2, 4] and sweep["passes"] == [["cpu"]]
    ok, killed = sweep["points"]
    assert (ok["batch_size"], ok["status"], ok["exit_code"], ok["reason"]) == (2, "ok", 0, None)
    assert ok["metrics"]["throughput"]["value"] > 0 and "cpu.process_cpu_mean" in ok["metrics"]
    assert (killed["batch_size"], killed["status"], killed["exit_code"]) == (4, "crashed", -signal.SIGKILL)
    assert "killed by SIGKILL" in killed["reason"]
    assert sweep["runs"] == [ok["run_dir"], killed["run_dir"]]
    # each point's run directory holds its own run.json; the killed one's now says how it ended
    runs, is_sweep = load_runs(sweep_dir)
    assert is_sweep and [run.config["batch_size"] for run in runs] == [2, 4]
    assert runs[0].config["iterations"] == 2 and runs[0].document["status"] == "ok"
    assert runs[1].document["status"] == "crashed" and "SIGKILL" in runs[1].document["error"]
    assert (sweep_dir / killed["log"]).is_file()
    # the summary table: one row per point, then why the failed one failed
    lines = result.out.splitlines()
    assert lines[0].split()[:3] == ["batch", "profilers", "status"] and "throughput (samples/s)" in lines[0]
    assert lines[1].split()[:3] == ["2", "cpu", "ok"] and lines[2].split()[:3] == ["4", "cpu", "crashed"]
    assert lines[3].startswith("bs 4 crashed: killed by SIGKILL") and lines[-1] == f"sweep failed: {sweep_dir}"
