"""The timeline numbers nvprof and nsys share, beyond the headline values: each metric's unit and
what it counts, the kernel summary's statistics, the window's exclusive end, an empty window and
the one-line failure message. On the timeline described in conftest.py; values by hand."""

import sqlite3

import pytest

from dnn_suite_profilers.analyzers import InvalidProfileFile, ProfilerToolError, analyze_nsys, analyze_nvprof

STARTED = "started inside the window"


def test_units_and_what_each_metric_counts(nsys_file):
    analysis = analyze_nsys(nsys_file)
    per_device = {
        "compute_utilization": ("%", "union of kernel intervals inside the window / window length"),
        "busy_time": ("ns", "union of kernel intervals inside the window"),
        "kernel_count": ("kernels", f"kernels {STARTED}"),
        "kernel_time": ("ns", f"summed durations of the kernels {STARTED}"),
    }
    for label in ("HtoD", "DtoH", "DtoD"):
        per_device[f"memcpy_{label.lower()}_time"] = ("ns", f"summed durations of {label} copies {STARTED}")
        per_device[f"memcpy_{label.lower()}_bytes"] = ("B", f"bytes of {label} copies {STARTED}")
    expected = {
        "window_length": ("ns", "NVTX range 'dnn_suite.window'"),
        "compute_utilization": ("%", "GPU compute utilization, mean over devices"),
        "kernel_count": ("kernels", f"kernels {STARTED}"),
        "kernel_time": ("ns", f"summed durations of the kernels {STARTED}, all devices"),
    }
    expected |= {f"gpu{device}.{key}": described for device in (0, 1) for key, described in per_device.items()}
    assert {key: (m.unit, m.description) for key, m in analysis.metrics.items() if key in expected} == expected
    # the rest are the figures of gpu_time.analyze_timelines (see test_gpu_time_sqlite.py)
    added = set(analysis.metrics) - set(expected)
    assert {"gpu0.idle_pct", "gpu0.utilization_pct", "kernels.median_duration", "launch.launch_delay_mean"} <= added
    assert all(key.split(".")[0] in {"gpu0", "gpu1", "kernels", "launch", "sync", "step", "phase", "comm"}
               for key in added)
    assert analysis.metrics["compute_utilization"].value == pytest.approx((75 + 50) / 2)
    assert analysis.source == nsys_file and analysis.tool == "nsys"


def test_kernel_summary_statistics(nsys_file):
    # device 0, started in [1000, 2000): relu 50, 300, 300; gemm 300, 100 (relu at 950 is not); device 1: copy 250, 250
    rows = analyze_nsys(nsys_file).tables["top_kernels"]
    relu_std = ((166 + 2 / 3) ** 2 + 2 * (83 + 1 / 3) ** 2) ** 0.5 / 2 ** 0.5
    assert rows == [
        {"device": 0, "time_pct": pytest.approx(100 * 650 / 1050), "total_ns": 650, "instances": 3,
         "avg_ns": pytest.approx(650 / 3), "med_ns": 300.0, "min_ns": 50, "max_ns": 300,
         "stddev_ns": pytest.approx(relu_std), "name": "void relu_kernel(float*)"},
        {"device": 0, "time_pct": pytest.approx(100 * 400 / 1050), "total_ns": 400, "instances": 2, "avg_ns": 200.0,
         "med_ns": 200.0, "min_ns": 100, "max_ns": 300, "stddev_ns": pytest.approx(2 ** 0.5 * 100),
         "name": "void gemm_kernel(float*)"},
        {"device": 1, "time_pct": 100.0, "total_ns": 500, "instances": 2, "avg_ns": 250.0, "med_ns": 250.0,
         "min_ns": 250, "max_ns": 250, "stddev_ns": 0.0, "name": "void copy_kernel(float*)"},
    ]
    assert [r["name"] for r in analyze_nsys(nsys_file, top=1).tables["top_kernels"]] == [
        "void relu_kernel(float*)", "void copy_kernel(float*)"]


def test_window_end_is_exclusive_and_single_launches_have_no_spread(tmp_path, build_nsys):
    # window [1000, 1250): device 0 starts gemm at 1100 (300) and relu at 1150 (50); device 1 copy at 1000
    # (250) but not the one starting at 1250
    analysis = analyze_nsys(build_nsys(tmp_path / "r.sqlite", [("dnn_suite.window", 1000, 1250)]))
    v = {key: m.value for key, m in analysis.metrics.items()}
    assert (v["gpu0.kernel_count"], v["gpu0.kernel_time"], v["gpu1.kernel_count"], v["gpu1.kernel_time"]) == (
        2, 350, 1, 250)
    assert [(r["device"], r["name"], r["instances"], r["med_ns"], r["stddev_ns"], r["time_pct"])
            for r in analysis.tables["top_kernels"]] == [
        (0, "void gemm_kernel(float*)", 1, 300.0, 0.0, pytest.approx(100 * 300 / 350)),
        (0, "void relu_kernel(float*)", 1, 50.0, 0.0, pytest.approx(100 * 50 / 350)),
        (1, "void copy_kernel(float*)", 1, 250.0, 0.0, 100.0),
    ]


def test_empty_window_has_no_utilization(tmp_path, build_nsys):
    analysis = analyze_nsys(build_nsys(tmp_path / "r.sqlite", [("dnn_suite.window", 1000, 1000)]))
    v = {key: m.value for key, m in analysis.metrics.items()}
    assert (v["window_length"], v["gpu0.compute_utilization"], v["compute_utilization"]) == (0, None, None)
    assert (v["kernel_count"], analysis.tables["top_kernels"]) == (0, [])


def test_kernel_without_a_name(nsys_file):
    conn = sqlite3.connect(nsys_file)
    with conn:
        conn.execute("DELETE FROM StringIds WHERE value = 'void copy_kernel(float*)'")
    conn.close()
    rows = analyze_nsys(nsys_file).tables["top_kernels"]
    assert (rows[-1]["device"], rows[-1]["name"], rows[-1]["total_ns"]) == (1, "<unnamed>", 500)


def test_no_kernels_message(tmp_path, build_nvprof):
    path = build_nvprof(tmp_path / "p.nvvp", [("dnn_suite.window", 1000, 2000)], kernels=[])
    with pytest.raises(ProfilerToolError) as info:
        analyze_nvprof(path)
    assert str(info.value) == (f"nvprof failed ({path}): no CUDA kernels were recorded. Check that the program ran "
                               "GPU kernels between cudaProfilerStart and cudaProfilerStop "
                               "(torch.cuda.profiler.start/stop)")


def test_memcpy_table_without_rows(nsys_file):
    # memcpy tracing on, nothing copied: every copy metric is there and 0
    with sqlite3.connect(nsys_file) as conn:
        conn.execute("DELETE FROM CUPTI_ACTIVITY_KIND_MEMCPY")
    conn.close()
    v = {key: m.value for key, m in analyze_nsys(nsys_file).metrics.items()}
    assert [v[f"gpu{d}.memcpy_{k}_{what}"] for d in (0, 1) for k in ("htod", "dtoh", "dtod")
            for what in ("time", "bytes")] == [0] * 12


NSYS_EXPECTED = "expected an Nsight Systems SQLite export (nsys export --type sqlite, or nsys profile --export=sqlite)"


@pytest.mark.parametrize(("table", "column"), [("CUPTI_ACTIVITY_KIND_MEMCPY", "bytes"),
                                               ("CUPTI_ACTIVITY_KIND_KERNEL", "deviceId"), ("StringIds", "value")])
def test_missing_column_names_file_column_and_format(nsys_file, table, column):
    with sqlite3.connect(nsys_file) as conn:
        conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    conn.close()
    with pytest.raises(InvalidProfileFile) as info:
        analyze_nsys(nsys_file)
    assert str(info.value) == f"{nsys_file}: unexpected schema (no such column: {column}); {NSYS_EXPECTED}"


def test_zero_length_kernels_have_no_time_share(nsys_file):
    # device 1's kernels all recorded with end == start: a share of a zero total is undefined
    with sqlite3.connect(nsys_file) as conn:
        conn.execute("UPDATE CUPTI_ACTIVITY_KIND_KERNEL SET end = start WHERE deviceId = 1")
    conn.close()
    rows = [r for r in analyze_nsys(nsys_file).tables["top_kernels"] if r["device"] == 1]
    assert [(r["instances"], r["total_ns"], r["time_pct"]) for r in rows] == [(2, 0, None)]
