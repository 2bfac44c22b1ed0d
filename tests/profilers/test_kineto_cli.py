"""`dnn-suite analyze` on hand-made kineto traces: the diagnosis, bad input (exit 2, one line
naming the file), directories of ranks, and no torch import."""

from __future__ import annotations

import gzip
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from kineto_traces import DATA_LOADER, Trace, analyze, value

US = 1000


def findings(analysis) -> list[str]:
    return [row["finding"] for row in analysis.tables["diagnosis"]]


# -- 6. Diagnosis ----------------------------------------------------------------------------


def training(wait: bool) -> Trace:
    """Three steps of one model: a matmul launching a 580 us tensor-core kernel (h884: no
    precision finding); with ``wait``, each step first waits 400 us on the data loader with the
    GPU idle."""
    t = Trace()
    loader = 400 if wait else 0
    length = loader + 600
    for i in range(3):
        s = i * length
        t.step(i + 1, s, length)
        if wait:
            t.annotation(DATA_LOADER, s, loader)
        t.kernel("volta_h884gemm_64x64_ldg8_nn", s + loader + 20, 580, launch=(s + loader + 5, 10),
                 op=("aten::mm", s + loader, 20))
    return t


def test_waiting_on_the_data_loader_is_diagnosed_input_bound_first(tmp_path):
    waiting = analyze(training(wait=True), tmp_path, "wait.json")
    assert value(waiting, "step.dataloader_share") == pytest.approx(400 / 1000)
    rows = waiting.tables["diagnosis"]
    assert rows[0]["finding"] == "input-bound" and rows[0]["rank"] == 1
    assert rows[0]["impact"] == pytest.approx(0.4)
    # the GPU also waits for the launches ([580, 1000) idle of the kept span [20, 1600)), a smaller impact
    assert "launch-bound" in findings(waiting)
    fed = analyze(training(wait=False), tmp_path, "fed.json")
    assert value(fed, "step.dataloader_share") == 0
    assert "input-bound" not in findings(fed) and "launch-bound" not in findings(fed)


def test_launch_bound_when_the_gpu_waits_for_the_host(tmp_path):
    t = Trace()
    for i in range(10):   # a 10 us kernel every 100 us, each launched after the previous one ended
        t.kernel("elementwise_kernel", 100 * i + 20, 10, launch=(100 * i, 10))
    analysis = analyze(t, tmp_path)
    assert value(analysis, "gpu0.idle_pct") == pytest.approx(100 * 9 * 90 / 910)  # span [20, 930)
    assert value(analysis, "gpu0.idle_host_wait_share") == pytest.approx(1.0)
    row = analysis.tables["diagnosis"][0]
    assert row["finding"] == "launch-bound"
    assert row["impact"] == pytest.approx(round(9 * 90 / 910, 4))


def test_precision_when_eligible_operators_miss_tensor_cores(tmp_path):
    t = Trace()
    t.kernel("implicit_convolve_sgemm", 20, 300, launch=(5, 10), op=("aten::conv2d", 0, 20))      # FP32
    t.kernel("sm80_xmma_fprop_implicit_gemm_f16f16", 320, 100, launch=(25, 10), op=("aten::conv2d", 20, 20))
    analysis = analyze(t, tmp_path)
    precision = next(row for row in analysis.tables["diagnosis"] if row["finding"] == "precision")
    assert precision["impact"] == pytest.approx(1.0 * (1 - 100 / 400))  # all eligible, 1/4 on tensor cores
    assert "--amp" in precision["fix"]
    on_tc = Trace()
    on_tc.kernel("sm80_xmma_fprop_implicit_gemm_f16f16", 20, 300, launch=(5, 10), op=("aten::conv2d", 0, 20))
    assert "precision" not in findings(analyze(on_tc, tmp_path, "amp.json"))


def test_memory_format_when_layout_conversions_take_kernel_time(tmp_path):
    t = Trace()
    t.kernel("implicit_convolve_sgemm", 0, 90, launch=(0, 0))
    t.kernel("void cudnn::ops::nchwToNhwcKernel<float>", 90, 10, launch=(0, 0))   # 10 of 100 us kernel time
    analysis = analyze(t, tmp_path)
    assert value(analysis, "kernels.layout_conversion_share") == pytest.approx(0.1)
    row = next(row for row in analysis.tables["diagnosis"] if row["finding"] == "memory-format")
    assert row["impact"] == pytest.approx(0.1) and "--channels-last" in row["fix"]
    below = Trace()  # 2% of kernel time: under the 3% threshold
    below.kernel("implicit_convolve_sgemm", 0, 98, launch=(0, 0))
    below.kernel("void cudnn::ops::nchwToNhwcKernel<float>", 98, 2, launch=(0, 0))
    assert "memory-format" not in findings(analyze(below, tmp_path, "below.json"))


def test_exposed_communication_is_what_no_computation_hides(tmp_path):
    t = Trace()
    t.step(1, 0, 100)
    t.kernel("gemm_kernel", 0, 40, launch=(0, 0))
    t.kernel("ncclDevKernel_AllReduce_Sum_f32_RING_LL", 20, 50, launch=(0, 0), stream=9)  # 20..40 hidden by gemm
    analysis = analyze(t, tmp_path)
    assert value(analysis, "comm.overlap_share") == pytest.approx(20 / 50)
    assert value(analysis, "comm.exposed_share") == pytest.approx(30 / 100)  # 40..70 of a 100 us step
    row = next(row for row in analysis.tables["diagnosis"] if row["finding"] == "exposed-communication")
    assert row["impact"] == pytest.approx(0.3)


def test_small_kernels_with_low_sm_efficiency(tmp_path):
    t = Trace()
    for i in range(10):  # 5 us kernels filling a quarter of the SMs, back to back
        t.kernel("elementwise_kernel", 5 * i, 5, blocks=0.25, occupancy=20, launch=(0, 0))
    analysis = analyze(t, tmp_path)
    assert value(analysis, "gpu0.sm_efficiency_pct") == pytest.approx(25)
    row = next(row for row in analysis.tables["diagnosis"] if row["finding"] == "small-kernels")
    assert row["impact"] == pytest.approx((100 - 25) / 100 * 0.5) and "--batch-size" in row["fix"]
    big = Trace()  # the same kernels filling every SM: efficient, no finding
    for i in range(10):
        big.kernel("elementwise_kernel", 5 * i, 5, blocks=4.0, occupancy=80, launch=(0, 0))
    assert "small-kernels" not in findings(analyze(big, tmp_path, "big.json"))


def test_cli_json_has_the_diagnosis_table(cli, tmp_path):
    path = training(wait=True).write(tmp_path / "wait.pt.trace.json")
    result = cli("analyze", path, "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    table = data[str(path)]["tables"]["diagnosis"]
    assert table[0]["finding"] == "input-bound" and table[0]["rank"] == 1
    assert {"finding", "impact", "evidence", "rule", "fix"} <= set(table[0])
    assert json.loads((tmp_path / "wait.pt.trace.json.analysis.json").read_text()) == data


# -- 7. Bad input through the CLI ------------------------------------------------------------


def check_refused(result, *fragments: str) -> None:
    assert result.code == 2, (result.code, result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _good(tmp_path: Path) -> bytes:
    return json.dumps(training(wait=False).document()).encode()


BAD = {
    "truncated gzip": lambda good: gzip.compress(good)[:-20],
    "not JSON": lambda good: b"{ this is not json",
    "no traceEvents": lambda good: b'{"schemaVersion": 1, "deviceProperties": []}',
    "empty": lambda good: b"",
}


@pytest.mark.parametrize("case", BAD)
def test_bad_trace_is_refused_in_one_line_and_nothing_is_lost(cli, tmp_path, case):
    name = "bad.pt.trace.json.gz" if case == "truncated gzip" else "bad.pt.trace.json"
    bad = tmp_path / name
    bad.write_bytes(BAD[case](_good(tmp_path)))
    neighbour = tmp_path / "keep.txt"
    neighbour.write_text("untouched")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    check_refused(cli("analyze", bad), name)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_events_without_times_or_with_negative_durations_are_skipped_with_a_warning(cli, tmp_path):
    t = training(wait=False)
    t.events.append({"ph": "X", "cat": "kernel", "name": "k_no_ts", "dur": 5, "args": {"stream": 7}})
    t.events.append({"ph": "X", "cat": "cpu_op", "name": "op_no_dur", "ts": 5})
    t.events.append({"ph": "X", "cat": "kernel", "name": "k_neg", "ts": 5, "dur": -3, "args": {"stream": 7}})
    path = t.write(tmp_path / "t.pt.trace.json")
    result = cli("analyze", path)
    assert result.code == 0, result.err
    warnings = [line for line in result.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "skipped 3 events" in warnings[0] and "t.pt.trace.json" in warnings[0]
    # the rest is analysed as without them
    assert analyze(t, tmp_path, "again.json").metrics["step.time"].value == pytest.approx(600 * US)


def test_nan_durations_written_by_python_json_are_skipped(cli, tmp_path):
    t = training(wait=False)
    t.events.append({"ph": "X", "cat": "kernel", "name": "k_nan", "ts": 5, "dur": math.nan, "args": {"stream": 7}})
    path = t.write(tmp_path / "nan.pt.trace.json")
    assert b"NaN" in path.read_bytes()
    result = cli("analyze", path)
    assert result.code == 0, result.err
    assert "skipped 1 event " in result.err
    assert analyze(t, tmp_path, "again.json").metrics["gpu0.compute_pct"].value > 0


def test_cpu_only_trace_says_no_gpu_activity(cli, tmp_path):
    t = Trace()
    t.step(1, 0, 100)
    t.cpu_op("aten::mm", 10, 50)
    path = t.write(tmp_path / "cpu.pt.trace.json")
    result = cli("analyze", path, "--json")
    assert result.code == 0, result.err
    analysis = json.loads(result.out)[str(path)]
    assert analysis["metrics"]["gpu_activity"]["value"] == 0
    assert "no GPU activity" in analysis["metrics"]["gpu_activity"]["description"]
    assert analysis["tables"]["top_operators"][0] == {"time_ns": 50 * US, "calls": 1, "name": "aten::mm"}


def test_directory_with_two_traces_of_one_rank_is_refused(cli, tmp_path):
    folder = tmp_path / "traces"
    folder.mkdir()
    for name in ("a.pt.trace.json", "b.pt.trace.json"):
        t = training(wait=False)
        t.rank = 0
        t.write(folder / name)
    check_refused(cli("analyze", folder), "a.pt.trace.json", "b.pt.trace.json", "rank 0")
    assert sorted(p.name for p in folder.iterdir()) == ["a.pt.trace.json", "b.pt.trace.json"]


def ranked(rank: int, step_us: float) -> Trace:
    t = Trace(rank=rank)
    for i in range(3):
        s = i * step_us
        t.step(i + 1, s, step_us)
        t.kernel("volta_h884gemm_64x64_ldg8_nn", s + 20, step_us - 40, launch=(s + 5, 10), op=("aten::mm", s, 20))
    return t


def test_directory_of_two_ranks_prefixes_metrics_and_finds_the_straggler(cli, tmp_path):
    folder = tmp_path / "traces"
    folder.mkdir()
    ranked(1, 1300).write(folder / "rank1.pt.trace.json")     # 30% longer steps
    ranked(0, 1000).write(folder / "rank0.pt.trace.json")
    result = cli("analyze", folder, "--json")
    assert result.code == 0, result.err
    analysis = json.loads(result.out)[str(folder)]
    metrics = analysis["metrics"]
    assert metrics["rank0.step.time"]["value"] == pytest.approx(1000 * US)
    assert metrics["rank1.step.time"]["value"] == pytest.approx(1300 * US)
    assert "step.time" not in metrics
    assert analysis["tables"]["ranks"] == [{"rank": 0, "mean_step_ns": 1000 * US},
                                           {"rank": 1, "mean_step_ns": 1300 * US}]
    spread = (1300 - 1000) / ((1300 + 1000) / 2)
    assert metrics["ranks.step_time_spread"]["value"] == pytest.approx(100 * spread)
    assert metrics["ranks.slowest_rank"]["value"] == 1
    straggler = next(row for row in analysis["tables"]["diagnosis"] if row["finding"] == "straggler")
    assert straggler["impact"] == pytest.approx(round(spread, 4)) and "rank 1" in straggler["evidence"]
    # written beside the folder, which keeps only the traces (HTA reads every .json of its trace_dir)
    assert sorted(p.name for p in folder.iterdir()) == ["rank0.pt.trace.json", "rank1.pt.trace.json"]
    assert json.loads((tmp_path / "traces.analysis.json").read_text()) == json.loads(result.out)


# -- 8. No torch -----------------------------------------------------------------------------


def test_reading_and_analysing_a_trace_does_not_import_torch(tmp_path):
    path = training(wait=True).write(tmp_path / "t.pt.trace.json")
    code = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from dnn_suite_profilers.analyzers.kineto import analyze_kineto
        analysis = analyze_kineto(Path({str(path)!r}))
        assert analysis.tables["diagnosis"][0]["finding"] == "input-bound", analysis.tables["diagnosis"]
        assert "torch" not in sys.modules, "torch was imported"
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
