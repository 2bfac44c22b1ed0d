"""Nsight Systems exports of other versions and settings (no NVTX table, NVTX text only inline,
GPUs without compute capability), the kern_sum CSV's units and types, and the whole one-line
message of every refusal."""

import pytest

from dnn_suite_profilers.analyzers import InvalidProfileFile, analyze_nsys, analyze_nsys_kern_sum
from sqlite_edit import edited

EXPECTED = "expected an Nsight Systems SQLite export (nsys export --type sqlite, or nsys profile --export=sqlite)"
KERN_SUM_HEADER = "Time (%),Total Time (ns),Instances,Avg (ns),Med (ns),Min (ns),Max (ns),StdDev (ns),Name"
KERN_SUM_EXPECTED = "expected the CSV of nsys stats -r cuda_gpu_kern_sum, header " + KERN_SUM_HEADER


def test_without_nvtx_table_the_capture_span_is_used(nsys_file):
    v = {k: m.value for k, m in analyze_nsys(edited(nsys_file, "DROP TABLE NVTX_EVENTS")).metrics.items()}
    assert v["window_length"] == 3100 - 200


def test_nvtx_text_inline_in_an_export_without_text_ids(nsys_file):
    edited(nsys_file, "ALTER TABLE NVTX_EVENTS DROP COLUMN textId")
    v = {k: m.value for k, m in analyze_nsys(nsys_file).metrics.items()}
    assert (v["window_length"], v["gpu0.busy_time"]) == (1000, 750)


def test_gpus_without_compute_capability(nsys_file):
    edited(nsys_file, "ALTER TABLE TARGET_INFO_GPU DROP COLUMN computeMajor",
           "ALTER TABLE TARGET_INFO_GPU DROP COLUMN computeMinor")
    rows = analyze_nsys(nsys_file).tables["per_device"]
    assert [(r["device"], r["name"], "compute_capability" in r) for r in rows] == [
        (0, "NVIDIA H200", False), (1, "NVIDIA A100-SXM4-80GB", False)]


@pytest.mark.parametrize("table", ["TARGET_INFO_GPU", "TARGET_INFO_CUDA_DEVICE", "NVTX_EVENTS"])
def test_schema_mismatch_names_file_and_format(nsys_file, table):
    column = {"TARGET_INFO_GPU": "name", "TARGET_INFO_CUDA_DEVICE": "cudaId", "NVTX_EVENTS": "eventType"}[table]
    edited(nsys_file, f"ALTER TABLE {table} DROP COLUMN {column}")
    column = "e." + column if table == "NVTX_EVENTS" else column  # the NVTX query names its table e
    with pytest.raises(InvalidProfileFile) as info:
        analyze_nsys(nsys_file)
    assert str(info.value) == f"{nsys_file}: unexpected schema (no such column: {column}); {EXPECTED}"


def test_export_without_kernel_table(nsys_file):
    edited(nsys_file, "DROP TABLE CUPTI_ACTIVITY_KIND_KERNEL")
    with pytest.raises(InvalidProfileFile) as info:
        analyze_nsys(nsys_file)
    assert str(info.value) == (f"{nsys_file}: no CUPTI_ACTIVITY_KIND_KERNEL table with StringIds (was CUDA tracing "
                               f"on: nsys profile -t cuda?); {EXPECTED}")


def test_missing_kern_sum_file(tmp_path):
    missing = tmp_path / "absent.csv"
    with pytest.raises(InvalidProfileFile) as info:
        analyze_nsys_kern_sum(missing)
    assert str(info.value) == f"{missing}: cannot read it (No such file or directory); {KERN_SUM_EXPECTED}"


def test_kern_sum_units_types_and_blank_lines(tmp_path):
    path = tmp_path / "kern_sum.csv"
    path.write_text(f"{KERN_SUM_HEADER}\n61.9,650,3,216.7,300.0,50,300,144.3,relu\n\n38.1,400,2,200.0,200.0,100,300,"
                    "141.4,gemm\n")
    analysis = analyze_nsys_kern_sum(path)
    assert {k: (m.value, m.unit, m.description) for k, m in analysis.metrics.items()} == {
        "kernel_count": (5, "kernels", "kernel launches in the report"),
        "kernel_time": (1050, "ns", "summed kernel durations in the report"),
        "kernel_names": (2, "names", "distinct kernel names"),
    }
    gemm = analysis.tables["top_kernels"][1]
    assert [type(gemm[k]) for k in ("time_pct", "total_ns", "instances", "avg_ns", "med_ns", "min_ns", "max_ns",
                                    "stddev_ns")] == [float, int, int, float, float, int, int, float]
    assert analysis.source == path and analysis.tool == "nsys"


@pytest.mark.parametrize(("body", "problem"), [
    ("1.0,abc,1,1,1,1,1,0,k", "line 2: Total Time (ns) is 'abc', not a number"),
    ("1.0,5,1", "line 2 has 3 fields, not 9"),
])
def test_kern_sum_refusals_name_file_line_and_format(tmp_path, body, problem):
    path = tmp_path / "bad.csv"
    path.write_text(f"{KERN_SUM_HEADER}\n{body}\n")
    with pytest.raises(InvalidProfileFile) as info:
        analyze_nsys_kern_sum(path)
    assert str(info.value) == f"{path}: {problem}; {KERN_SUM_EXPECTED}"


def test_text_file_is_not_an_export(tmp_path):
    path = tmp_path / "report.sqlite"
    path.write_text("epoch 0 loss 1.0\n")
    with pytest.raises(InvalidProfileFile) as info:
        analyze_nsys(path)
    assert str(info.value) == f"{path}: not an SQLite database; {EXPECTED}"
