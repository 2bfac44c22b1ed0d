"""Nsight Compute --csv logs. Expected values are computed by hand from the fixtures."""

import pytest

from dnn_suite_profilers.analyzers import InvalidProfileFile, ProfilerToolError, analyze_ncu
from dnn_suite_profilers.analyzers.ncu import parse_ncu_log


def values(analysis):
    return {key: metric.value for key, metric in analysis.metrics.items()}


def test_new_columns_two_processes_units_and_separators(fixtures_dir):
    # kernels (cycles: fma, fp16, tensor, xu, occupancy; duration):
    #   pid 1001 ID 0: 1,000,000: 10, 0,   50, 2, 40; 1.50 us
    #   pid 1001 ID 1: 3,000,000: 30, n/a,  0, 4, 60; 2,000 ns
    #   pid 1002 ID 0: 1,000,000: 20, 10,  80, 0, 20; 0.5 ms   (same ID in another process, printed first)
    analysis = analyze_ncu(fixtures_dir / "ncu_new_columns.log")
    v = values(analysis)
    assert v["kernel_count"] == 3
    assert v["cycles"] == 5_000_000
    assert v["fma_utilization"] == pytest.approx((1 * 10 + 3 * 30 + 1 * 20) / 5)  # 24; 25 without the last kernel
    assert v["fp16_utilization"] == pytest.approx((1 * 0 + 1 * 10) / 2)  # n/a kernel left out
    assert v["tensor_utilization"] == pytest.approx((1 * 50 + 3 * 0 + 1 * 80) / 5)
    assert v["sfu_utilization"] == pytest.approx((1 * 2 + 3 * 4 + 1 * 0) / 5)
    assert v["achieved_occupancy"] == pytest.approx((1 * 40 + 3 * 60 + 1 * 20) / 5)
    assert v["kernel_time"] == pytest.approx(1500 + 2000 + 500_000)
    assert "sm_throughput" not in v
    assert "over 2 kernels" in analysis.metrics["fp16_utilization"].description
    assert "sm__inst_executed_pipe_fma_type_fp16" in analysis.metrics["fp16_utilization"].description
    rows = analysis.tables["per_kernel"]
    assert [(r["process_id"], r["id"], r["name"]) for r in rows] == [
        ("1002", "0", "void gemm<float, 128>(float*)"),
        ("1001", "0", "void gemm<float, 128>(float*)"),
        ("1001", "1", "relu_kernel"),
    ]
    assert rows[2]["fp16_utilization"] is None and rows[0]["duration_ns"] == pytest.approx(500_000)
    assert analysis.tables["messages"] == [
        {"message": "==WARNING== Backing up device memory in system memory. Kernel replay might be slow."}
    ]


def test_old_columns_with_kernel_time(fixtures_dir):
    # cycles 2,000 and 6,000; fma 10/50, fp16 20/0, tensor 30/10, xu 40/0
    v = values(analyze_ncu(fixtures_dir / "ncu_old_columns.log"))
    assert v["kernel_count"] == 2
    assert v["fma_utilization"] == pytest.approx((2 * 10 + 6 * 50) / 8)  # 40; 10 without the last kernel
    assert v["fp16_utilization"] == pytest.approx((2 * 20 + 6 * 0) / 8)
    assert v["tensor_utilization"] == pytest.approx((2 * 30 + 6 * 10) / 8)
    assert v["sfu_utilization"] == pytest.approx((2 * 40 + 6 * 0) / 8)
    assert "kernel_time" not in v


def test_raw_page_one_column_per_metric(fixtures_dir):
    # cycles 1,000 / 3,000; fma 40 / 20; xu 10 / n/a; sm throughput 50 / 90; 0.001 / 0.003 ms
    analysis = analyze_ncu(fixtures_dir / "ncu_raw_page.csv")
    v = values(analysis)
    assert v["kernel_count"] == 2
    assert v["fma_utilization"] == pytest.approx((1 * 40 + 3 * 20) / 4)
    assert v["sfu_utilization"] == pytest.approx(10)
    assert v["sm_throughput"] == pytest.approx((1 * 50 + 3 * 90) / 4)
    assert v["kernel_time"] == pytest.approx(4000)
    assert "fp16_utilization" not in v and "tensor_utilization" not in v
    assert analysis.tables["per_kernel"][1]["device"] == "0"


def test_explicit_core_metrics(fixtures_dir):
    metrics = {
        "sfu": "sm__inst_executed_pipe_xu.avg.pct_of_peak_sustained_elapsed",
        "fp16": "sm__inst_executed_pipe_fma_type_fp16.avg.pct_of_peak_sustained_elapsed",  # not in this log
    }
    v = values(analyze_ncu(fixtures_dir / "ncu_old_columns.log", core_metrics=metrics))
    assert v["sfu_utilization"] == pytest.approx(10)
    assert v["fp16_utilization"] is None
    assert "fma_utilization" not in v


def test_parse_keeps_launches_apart_by_process(fixtures_dir):
    log = parse_ncu_log(fixtures_dir / "ncu_new_columns.log")
    assert [(k.process_id, k.launch_id, k.metrics["gpc__cycles_elapsed.max"]) for k in log.launches] == [
        ("1002", "0", 1_000_000),
        ("1001", "0", 1_000_000),
        ("1001", "1", 3_000_000),
    ]


def test_permission_error(fixtures_dir):
    with pytest.raises(ProfilerToolError) as info:
        analyze_ncu(fixtures_dir / "ncu_permission.log")
    message = str(info.value)
    assert "ERR_NVGPUCTRPERM" in message
    assert "root" in message and "NVreg_RestrictProfilingToAdminUsers=0" in message
    assert "\n" not in message and info.value.exit_code == 1


def test_no_kernels_profiled(fixtures_dir):
    with pytest.raises(ProfilerToolError, match="no kernels were profiled. Check that the program launches"):
        analyze_ncu(fixtures_dir / "ncu_no_kernels.log")


def test_header_without_rows_means_no_kernels(tmp_path):
    log = tmp_path / "ncu.log"
    log.write_text('"ID","Process ID","Kernel Name","Metric Name","Metric Unit","Metric Value"\n')
    with pytest.raises(ProfilerToolError, match="no kernels were profiled"):
        analyze_ncu(log)


def test_profiler_initialization_failure(fixtures_dir):
    with pytest.raises(ProfilerToolError, match="could not start: Failed to initialize the profiler: LibraryNotLoaded"):
        analyze_ncu(fixtures_dir / "ncu_init_failure.log")


def test_other_error_lines_are_reported(tmp_path):
    log = tmp_path / "ncu.log"
    log.write_text("==PROF== Connected to process 1\n==ERROR== Failed to find metric sm__foo.sum.\n")
    with pytest.raises(ProfilerToolError, match=r"ncu failed \(.*ncu.log\): Failed to find metric sm__foo.sum. See"):
        analyze_ncu(log)


def test_byte_order_mark_and_crlf(tmp_path, fixtures_dir):
    log = tmp_path / "ncu.csv"
    csv_lines = (fixtures_dir / "ncu_old_columns.log").read_bytes().splitlines()[2:-1]  # header first
    log.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(csv_lines))
    assert analyze_ncu(log).metrics["fma_utilization"].value == pytest.approx(40)


def test_no_csv_header(tmp_path):
    log = tmp_path / "train.log"
    log.write_text("epoch 0 loss 1.0\n")
    with pytest.raises(InvalidProfileFile, match='train.log: no CSV header line starting with "ID"; expected') as info:
        analyze_ncu(log)
    assert info.value.exit_code == 2


def test_cycles_missing(tmp_path):
    log = tmp_path / "ncu.log"
    log.write_text(
        '"ID","Process ID","Kernel Name","Metric Name","Metric Unit","Metric Value"\n'
        '"0","1","k","sm__inst_executed_pipe_fma.avg.pct_of_peak_sustained_elapsed","%","5"\n'
    )
    with pytest.raises(InvalidProfileFile, match="no gpc__cycles_elapsed.max values"):
        analyze_ncu(log)
