"""nvprof .nvvp analysis on the timeline described in conftest.py."""

import json
import math
import sqlite3

import pytest

from dnn_suite_profilers.analyzers import InvalidProfileFile, ProfilerToolError, analyze_nvprof, check_nvprof_output
from sqlite_edit import edited

WINDOW = (1000, 2000)
NVPROF_EXPECTED = "expected an nvprof profile (.nvvp SQLite file from nvprof --export-profile)"


def values(analysis):
    return {key: metric.value for key, metric in analysis.metrics.items()}


def test_utilization_inside_the_nvtx_window(nvprof_file):
    v = values(analyze_nvprof(nvprof_file))
    assert v["window_length"] == 1000
    # device 0: H clipped to [1000,1050) = 50, A+G+B+C = [1100,1700) = 600, D clipped to [1900,2000) = 100
    assert v["gpu0.busy_time"] == 750
    assert v["gpu0.compute_utilization"] == pytest.approx(75.0)
    # device 1: P and Q touch: [1000,1500)
    assert v["gpu1.busy_time"] == 500
    assert v["gpu1.compute_utilization"] == pytest.approx(50.0)
    assert v["compute_utilization"] == pytest.approx(62.5)


def test_kernels_counted_by_start_inside_the_window(nvprof_file):
    v = values(analyze_nvprof(nvprof_file))
    # device 0: A 300, G 50, B 300, C 100, D 300 (full duration although it ends after the window)
    assert v["gpu0.kernel_count"] == 5
    assert v["gpu0.kernel_time"] == 1050
    assert (v["gpu1.kernel_count"], v["gpu1.kernel_time"]) == (2, 500)
    assert (v["kernel_count"], v["kernel_time"]) == (7, 1550)


def test_memcpys_by_kind(nvprof_file):
    v = values(analyze_nvprof(nvprof_file))
    assert (v["gpu0.memcpy_htod_time"], v["gpu0.memcpy_htod_bytes"]) == (20, 4096)
    assert (v["gpu0.memcpy_dtoh_time"], v["gpu0.memcpy_dtoh_bytes"]) == (50, 1024)
    assert (v["gpu0.memcpy_dtod_time"], v["gpu0.memcpy_dtod_bytes"]) == (0, 0)
    assert (v["gpu1.memcpy_dtod_time"], v["gpu1.memcpy_dtod_bytes"]) == (10, 64)


def test_top_kernels_per_device(nvprof_file):
    rows = analyze_nvprof(nvprof_file).tables["top_kernels"]
    relu, gemm, copy = rows
    assert (relu["device"], relu["name"], relu["instances"], relu["total_ns"]) == (0, "relu_kernel", 3, 650)
    assert relu["time_pct"] == pytest.approx(100 * 650 / 1050)
    assert relu["avg_ns"] == pytest.approx(650 / 3)
    assert (relu["med_ns"], relu["min_ns"], relu["max_ns"]) == (300, 50, 300)
    mean = 650 / 3
    assert relu["stddev_ns"] == pytest.approx(math.sqrt(((300 - mean) ** 2 * 2 + (50 - mean) ** 2) / 2))
    assert (gemm["name"], gemm["instances"], gemm["total_ns"], gemm["avg_ns"]) == ("gemm_kernel", 2, 400, 200)
    assert gemm["stddev_ns"] == pytest.approx(math.sqrt(2 * 100**2))
    assert (copy["device"], copy["name"], copy["time_pct"]) == (1, "copy_kernel", 100.0)


def test_window_range_name_is_a_parameter(nvprof_file):
    v = values(analyze_nvprof(nvprof_file, window_range="other.range"))
    assert v["window_length"] == 2500  # [500, 3000)
    # device 0 inside [500,3000): H 100 + [1100,1700) 600 + D 300 + F 100
    assert v["gpu0.busy_time"] == 1100
    assert v["gpu0.compute_utilization"] == pytest.approx(100 * 1100 / 2500)


def test_without_window_the_capture_span_is_used(tmp_path, build_nvprof):
    analysis = analyze_nvprof(build_nvprof(tmp_path / "p.nvvp", []))
    v = values(analysis)
    # first kernel start 200 (E, device 0) .. last kernel end 3100 (R, device 1), shared by both devices
    assert v["window_length"] == 2900
    assert v["gpu0.busy_time"] == 200 + 100 + 600 + 300 + 100
    assert v["gpu0.compute_utilization"] == pytest.approx(100 * 1300 / 2900)
    assert v["gpu1.compute_utilization"] == pytest.approx(100 * 600 / 2900)
    assert (v["gpu0.kernel_count"], v["gpu0.kernel_time"]) == (8, 1450)
    assert analysis.tables["window"][0]["source"].startswith("capture span")


def test_repeated_window_ranges_are_summed(tmp_path, build_nvprof):
    path = build_nvprof(tmp_path / "p.nvvp", [("dnn_suite.window", *WINDOW), ("dnn_suite.window", 2400, 2700)])
    v = values(analyze_nvprof(path))
    assert v["window_length"] == 1300
    assert v["gpu0.busy_time"] == 750 + 100  # F [2500,2600) is in the second window
    assert v["gpu0.kernel_count"] == 6


def test_older_kernel_table(tmp_path, build_nvprof):
    path = build_nvprof(tmp_path / "p.nvvp", [("dnn_suite.window", *WINDOW)], kernel_table="CUPTI_ACTIVITY_KIND_KERNEL")
    assert analyze_nvprof(path).metrics["gpu0.busy_time"].value == 750


def test_no_kernels_is_a_tool_failure(tmp_path, build_nvprof):
    path = build_nvprof(tmp_path / "p.nvvp", [("dnn_suite.window", *WINDOW)], kernels=[])
    with pytest.raises(ProfilerToolError, match="no CUDA kernels were recorded.*cudaProfilerStart"):
        analyze_nvprof(path)


def test_not_an_nvprof_file(tmp_path):
    text = tmp_path / "x.nvvp"
    text.write_text("hello\n")
    with pytest.raises(InvalidProfileFile, match="x.nvvp: not an SQLite database; expected an nvprof profile"):
        analyze_nvprof(text)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(InvalidProfileFile, match="no CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL"):
        analyze_nvprof(other)


def test_json_and_text(nvprof_file):
    analysis = analyze_nvprof(nvprof_file)
    data = json.loads(json.dumps(analysis.to_json()))
    assert data["tool"] == "nvprof"
    assert data["metrics"]["gpu0.compute_utilization"] == {
        "value": pytest.approx(75.0),
        "unit": "%",
        "description": "union of kernel intervals inside the window / window length",
    }
    text = analysis.format_text()
    assert "gpu0.compute_utilization" in text and "top_kernels (3 rows)" in text


def test_unsupported_gpu_message(tmp_path):
    check_nvprof_output("==1== NVPROF is profiling process 1\n", tmp_path / "log")
    with pytest.raises(ProfilerToolError) as info:
        check_nvprof_output(
            "======== Warning: nvprof is not supported on devices with compute capability 8.0 and higher.\n",
            tmp_path / "log",
        )
    assert str(info.value) == (
        f"nvprof failed ({tmp_path / 'log'}): nvprof does not support GPUs of compute capability 8.0 and higher. "
        "Use the nsys profiler for GPU compute utilization on this GPU"
    )
    assert (info.value.tool, info.value.path) == ("nvprof", tmp_path / "log")


def test_without_a_marker_table_the_capture_span_is_used(nvprof_file):
    analysis = analyze_nvprof(edited(nvprof_file, "DROP TABLE CUPTI_ACTIVITY_KIND_MARKER"))
    assert analysis.tables["window"] == [
        {"start_ns": 200, "end_ns": 3100, "length_ns": 2900,
         "source": "capture span (first kernel start to last kernel end)"},
    ]
    assert analysis.metrics["gpu0.busy_time"].value == 1300


def test_the_window_table_names_the_nvtx_range(nvprof_file):
    rows = analyze_nvprof(nvprof_file).tables["window"]
    assert rows == [{"start_ns": 1000, "end_ns": 2000, "length_ns": 1000, "source": "NVTX range 'dnn_suite.window'"}]


def test_kernel_table_without_a_string_table(nvprof_file):
    path = edited(nvprof_file, "DROP TABLE StringTable")
    with pytest.raises(InvalidProfileFile) as info:
        analyze_nvprof(path)
    assert str(info.value) == (
        f"{path}: no CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL or CUPTI_ACTIVITY_KIND_KERNEL table with a StringTable; "
        f"{NVPROF_EXPECTED}"
    )


@pytest.mark.parametrize(
    ("table", "column", "sqlite_error"),
    [
        ("CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL", "deviceId", "no such column: deviceId"),
        ("CUPTI_ACTIVITY_KIND_MARKER", "timestamp", "no such column: b.timestamp"),
        ("CUPTI_ACTIVITY_KIND_MEMCPY", "bytes", "no such column: bytes"),
    ],
)
def test_a_missing_column_is_an_unexpected_schema(nvprof_file, table, column, sqlite_error):
    path = edited(nvprof_file, f"ALTER TABLE {table} RENAME COLUMN {column} TO renamed_{column}")
    with pytest.raises(InvalidProfileFile) as info:
        analyze_nvprof(path)
    assert str(info.value) == f"{path}: unexpected schema ({sqlite_error}); {NVPROF_EXPECTED}"


def test_top_kernels_default_to_the_20_longest_names(tmp_path, build_nvprof):
    # 21 kernel names on device 0, kernel_i lasting 10 * i ns, all inside the window: kernel_1 is left out
    kernels = [(0, 7, 1000 + 100 * i, 1000 + 100 * i + 10 * i, f"kernel_{i}") for i in range(1, 22)]
    path = build_nvprof(tmp_path / "p.nvvp", [("dnn_suite.window", 1000, 4000)], kernels=kernels)
    rows = analyze_nvprof(path).tables["top_kernels"]
    assert [row["name"] for row in rows] == [f"kernel_{i}" for i in range(21, 1, -1)]
