"""Nsight Compute: the metric names per architecture (the product's table against the fake's
`--query-metrics --chips` answers, which follow NVIDIA's tables), and which kernel launches
ncu profiles (NVTX push/pop scope, -k, skip/count) with what run.json says about it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dnn_suite_profilers.analyzers.ncu_metrics import CHIPS, chip_of, core_utilization_metrics, profiling_metrics
from dnn_suite_profilers.nsight import unknown_metrics
from fakes.harness import FAKE_BIN, fake_tools, run_in_process, value  # noqa: F401 (fixture)

NCU = str(FAKE_BIN / "ncu")
FORWARD, BACKWARD = "sgemm_128x64_nn", "sgemm_128x64_nt"


@pytest.mark.parametrize("compute_capability", list(CHIPS))
def test_the_metric_table_matches_each_chip(compute_capability):
    names = profiling_metrics(compute_capability, extras=True)
    assert unknown_metrics(NCU, names, chip_of(compute_capability)) == []


def test_hopper_has_no_separate_fp16_pipe_nor_plain_tensor_pipe():
    hopper = core_utilization_metrics((9, 0))
    lacking = ["sm__inst_executed_pipe_fp16.avg.pct_of_peak_sustained_elapsed",
               "sm__inst_executed_pipe_tensor.avg.pct_of_peak_sustained_elapsed"]
    assert unknown_metrics(NCU, lacking, "gh100") == lacking
    assert unknown_metrics(NCU, lacking, "gv100") == []
    assert hopper["fp16"].startswith("sm__inst_executed_pipe_fma_type_fp16.")
    assert hopper["tensor"].startswith("sm__pipe_tensor_cycles_active.")


def _ncu_run(tmp_path, *settings: str) -> tuple[dict, Path]:
    args = ["run", "tiny", "--profiler", "ncu", "--iterations", 3, "--output", tmp_path, "--json"]
    for setting in settings:
        args += ["--set", f"profiler_options.nsight.{setting}"]
    code, stdout, stderr = run_in_process(*args)
    assert code == 0, stderr
    document = json.loads(stdout)
    return document, Path(document["run_dir"])


def _profiled(run_dir: Path) -> list[str]:
    rows = (run_dir / "nsight" / "per_kernel.csv").read_text().splitlines()[1:]
    return [name for name in (FORWARD, BACKWARD, "relu_kernel") for row in rows if name in row]


def test_the_window_range_includes_the_backward_kernels_and_run_json_says_what_was_sampled(tmp_path):
    """Forward kernels come from the loop's thread, backward ones from autograd's: with the
    window range matched process-wide, both are profiled."""
    document, run_dir = _ncu_run(tmp_path, "nvtx=true", "launch_count=5", "cache_control=all")
    assert value(document, "nsight", "kernel_count") == 5  # launches 0..4 of 9
    assert sorted(_profiled(run_dir)) == sorted([FORWARD, FORWARD, BACKWARD, "relu_kernel", "relu_kernel"])
    assert value(document, "nsight", "launch_skip") == 0 and value(document, "nsight", "launch_count") == 5
    sampling = document["profilers"]["nsight"]["metrics"]["sampling"]
    assert sampling["value"] == 5 and sampling["unit"] == "kernels"
    for text in ("inside the dnn_suite.window NVTX range, every thread", "--launch-skip 0 --launch-count 5",
                 "--replay-mode kernel", "--cache-control all", "--clock-control none"):
        assert text in sampling["description"]
    argv = json.loads((run_dir / "nsight" / "command.json").read_text())
    assert argv[argv.index("--cache-control") + 1] == "all"


@pytest.mark.slow
def test_ncus_thread_scope_and_name_filter_as_ncu_applies_them(tmp_path):
    """With ncu's default push/pop scope (thread) the backward kernels drop out of the window
    range; -k regex: keeps the matching names; --launch-skip counts matching launches only."""
    document, run_dir = _ncu_run(tmp_path, "nvtx=true", "launch_skip=1",
                                 "extra_args=[--nvtx-push-pop-scope, thread, -k, 'regex:^sgemm']")
    assert value(document, "nsight", "kernel_count") == 2  # 3 forward sgemm launches, the first skipped
    assert _profiled(run_dir) == [FORWARD, FORWARD]


@pytest.mark.parametrize("setting, message", [
    ("cache_control=some", "option 'cache_control': expected one of none, all, got 'some'"),
    ("clock_control=max", "option 'clock_control': expected one of none, base, got 'max'"),
])
def test_bad_cache_and_clock_control(fake_tools, cli, tmp_path, setting, message):
    result = cli("run", "tiny", "--profiler", "ncu", "--output", tmp_path, "--set",
                 f"profiler_options.nsight.{setting}")
    assert result.code == 2 and message in result.err
