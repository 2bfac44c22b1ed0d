"""Nsight Systems SQLite export and kern_sum CSV, on the timeline described in conftest.py."""

import pytest

from dnn_suite_profilers.analyzers import InvalidProfileFile, analyze_nsys, analyze_nsys_kern_sum

WINDOW = (1000, 2000)


def values(analysis):
    return {key: metric.value for key, metric in analysis.metrics.items()}


def test_utilization_and_counts_inside_the_nvtx_window(nsys_file):
    v = values(analyze_nsys(nsys_file))
    assert v["window_length"] == 1000
    assert (v["gpu0.busy_time"], v["gpu0.compute_utilization"]) == (750, pytest.approx(75.0))
    assert (v["gpu1.busy_time"], v["gpu1.compute_utilization"]) == (500, pytest.approx(50.0))
    assert (v["gpu0.kernel_count"], v["gpu0.kernel_time"]) == (5, 1050)
    assert (v["kernel_count"], v["kernel_time"]) == (7, 1550)


def test_memcpy_time_and_bytes_by_kind(nsys_file):
    v = values(analyze_nsys(nsys_file))
    assert (v["gpu0.memcpy_htod_time"], v["gpu0.memcpy_htod_bytes"]) == (20, 4096)
    assert (v["gpu0.memcpy_dtoh_time"], v["gpu0.memcpy_dtoh_bytes"]) == (50, 1024)
    assert (v["gpu1.memcpy_dtod_time"], v["gpu1.memcpy_dtod_bytes"]) == (10, 64)
    assert v["gpu1.memcpy_htod_bytes"] == 0
    assert v["gpu0.memcpy_htod_bytes"] == 4096  # the PtoP copy (kind 10) is not counted anywhere


def test_kernel_summary_uses_demangled_names(nsys_file):
    rows = analyze_nsys(nsys_file).tables["top_kernels"]
    assert [(r["device"], r["name"], r["instances"], r["total_ns"]) for r in rows] == [
        (0, "void relu_kernel(float*)", 3, 650),
        (0, "void gemm_kernel(float*)", 2, 400),
        (1, "void copy_kernel(float*)", 2, 500),
    ]
    assert list(rows[0]) == [
        "device",
        "time_pct",
        "total_ns",
        "instances",
        "avg_ns",
        "med_ns",
        "min_ns",
        "max_ns",
        "stddev_ns",
        "name",
    ]


def test_device_names_from_target_info(nsys_file):
    rows = analyze_nsys(nsys_file).tables["per_device"]
    assert [(r["device"], r["name"], r["compute_capability"]) for r in rows] == [
        (0, "NVIDIA H200", "9.0"),
        (1, "NVIDIA A100-SXM4-80GB", "8.0"),
    ]


def test_cuda_device_ids_mapped_to_gpus(tmp_path, build_nsys):
    path = build_nsys(tmp_path / "r.sqlite", [("dnn_suite.window", *WINDOW)], cuda_to_gpu={0: 1, 1: 0})
    rows = analyze_nsys(path).tables["per_device"]
    assert [(r["device"], r["name"]) for r in rows] == [(0, "NVIDIA A100-SXM4-80GB"), (1, "NVIDIA H200")]


def test_window_text_in_string_ids(tmp_path, build_nsys):
    path = build_nsys(tmp_path / "r.sqlite", [("dnn_suite.window", *WINDOW)], registered_strings=True)
    v = values(analyze_nsys(path))
    assert (v["window_length"], v["gpu0.busy_time"]) == (1000, 750)


def test_without_window_the_capture_span_is_used(tmp_path, build_nsys):
    # only another range, and the NVTX mark named like the window (eventType 34) which is no range
    analysis = analyze_nsys(build_nsys(tmp_path / "r.sqlite", [("other.range", 500, 3000)]))
    v = values(analysis)
    assert v["window_length"] == 2900
    assert v["gpu1.compute_utilization"] == pytest.approx(100 * 600 / 2900)
    assert analysis.tables["window"] == [
        {
            "start_ns": 200,
            "end_ns": 3100,
            "length_ns": 2900,
            "source": "capture span (first kernel start to last kernel end)",
        }
    ]


def test_two_windows(tmp_path, build_nsys):
    path = build_nsys(tmp_path / "r.sqlite", [("dnn_suite.window", *WINDOW), ("dnn_suite.window", 2400, 2700)])
    v = values(analyze_nsys(path))
    assert v["window_length"] == 1300
    assert v["gpu0.compute_utilization"] == pytest.approx(100 * 850 / 1300)


def test_an_nvprof_file_is_not_an_nsys_export(nvprof_file):
    with pytest.raises(InvalidProfileFile, match="no CUPTI_ACTIVITY_KIND_KERNEL table with StringIds"):
        analyze_nsys(nvprof_file)


def test_kern_sum_csv(fixtures_dir):
    analysis = analyze_nsys_kern_sum(fixtures_dir / "report_cuda_gpu_kern_sum.csv")
    v = values(analysis)
    assert (v["kernel_count"], v["kernel_time"], v["kernel_names"]) == (5, 1050, 2)
    relu, gemm = analysis.tables["top_kernels"]
    assert relu == {
        "time_pct": 61.9,
        "total_ns": 650,
        "instances": 3,
        "avg_ns": 216.7,
        "med_ns": 300.0,
        "min_ns": 50,
        "max_ns": 300,
        "stddev_ns": 144.3,
        "name": "relu_kernel",
    }
    assert gemm["name"] == "void gemm_kernel<float, 128>(float*)"


def test_kern_sum_csv_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("Name,Total\nx,1\n")
    with pytest.raises(InvalidProfileFile, match="bad.csv: no kernel summary header line; expected the CSV of nsys"):
        analyze_nsys_kern_sum(bad)
    header = "Time (%),Total Time (ns),Instances,Avg (ns),Med (ns),Min (ns),Max (ns),StdDev (ns),Name\n"
    bad.write_text(header + "1.0,abc,1,1,1,1,1,0,k\n")
    with pytest.raises(InvalidProfileFile, match="line 2: Total Time \\(ns\\) is 'abc', not a number"):
        analyze_nsys_kern_sum(bad)
    bad.write_text(header + "1.0,5,1\n")
    with pytest.raises(InvalidProfileFile, match="line 2 has 3 fields, not 9"):
        analyze_nsys_kern_sum(bad)
