import json
import sqlite3
from pathlib import Path

import pytest

from dnn_suite.memory_model import CATEGORIES, FILE_FORMAT
from dnn_suite_profilers.analyzers import InvalidProfileFile, ProfilerToolError, detect_and_analyze
from sqlite_edit import edited


def test_nvprof(nvprof_file):
    analysis = detect_and_analyze(nvprof_file)
    assert analysis.tool == "nvprof" and analysis.metrics["gpu0.busy_time"].value == 750


def test_nsys_export(nsys_file):
    analysis = detect_and_analyze(nsys_file)
    assert analysis.tool == "nsys" and analysis.tables["per_device"][0]["name"] == "NVIDIA H200"


@pytest.mark.parametrize(
    ("name", "tool", "key", "value"),
    [
        ("report_cuda_gpu_kern_sum.csv", "nsys", "kernel_count", 5),
        ("ncu_new_columns.log", "ncu", "kernel_count", 3),
        ("ncu_old_columns.log", "ncu", "kernel_count", 2),
        ("ncu_raw_page.csv", "ncu", "kernel_count", 2),
        ("nvml_samples.csv", "nvml", "gpu0.samples", 5),
    ],
)
def test_text_formats(fixtures_dir, name, tool, key, value):
    analysis = detect_and_analyze(fixtures_dir / name)
    assert (analysis.tool, analysis.metrics[key].value) == (tool, value)


def test_ncu_log_of_a_failed_run(fixtures_dir):
    with pytest.raises(ProfilerToolError, match="ERR_NVGPUCTRPERM"):
        detect_and_analyze(fixtures_dir / "ncu_permission.log")


def test_unknown_text_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("just some text\n")
    with pytest.raises(InvalidProfileFile) as info:
        detect_and_analyze(path)
    message = str(info.value)
    assert message.startswith(f"{path}: not a supported profiler output; expected one of: ")
    for supported in ("nvprof", "Nsight Systems SQLite export", "cuda_gpu_kern_sum", "ncu --csv log", "NVML"):
        assert supported in message
    assert info.value.exit_code == 2


def test_unknown_sqlite_file(tmp_path):
    path = tmp_path / "other.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(InvalidProfileFile, match="an SQLite database with neither nvprof nor nsys tables"):
        detect_and_analyze(path)


def test_missing_file_and_binary_report(tmp_path):
    with pytest.raises(InvalidProfileFile, match="missing.sqlite: cannot read it"):
        detect_and_analyze(tmp_path / "missing.sqlite")
    report = tmp_path / "run.nsys-rep"
    report.write_bytes(b"\x00\x01binary")
    with pytest.raises(InvalidProfileFile, match="nsys export --type sqlite"):
        detect_and_analyze(report)


DETECT_EXPECTED = (
    "expected one of: a PyTorch profiler (kineto) trace .json[.gz], or a directory of them (one per rank); "
    "an nvprof .nvvp profile (SQLite); an Nsight Systems SQLite export; "
    "the cuda_gpu_kern_sum CSV of nsys stats; an ncu --csv log; an NVML samples CSV; a memory profiler's memory.json"
)


def refusal(path: Path) -> str:
    """The whole message ``detect_and_analyze`` refuses ``path`` with."""
    with pytest.raises(InvalidProfileFile) as info:
        detect_and_analyze(path)
    return str(info.value)


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("run.nsys-rep", "convert it with: nsys export --type sqlite -o OUT.sqlite FILE"),
        ("run.qdrep", "convert it with: nsys export --type sqlite -o OUT.sqlite FILE"),
        ("run.ncu-rep", "convert it with: ncu -i FILE --page raw --csv > OUT.csv"),
    ],
)
def test_binary_reports_name_their_conversion(tmp_path, name, hint):
    report = tmp_path / name
    report.write_bytes(b"\x00\x01binary")
    assert refusal(report) == f"{report}: a binary report file, {hint}; {DETECT_EXPECTED}"


def test_sqlite_with_neither_tools_tables(tmp_path):
    # a StringTable without a kernel table is not nvprof's either
    path = edited(tmp_path / "other.db", "CREATE TABLE StringTable (_id_ INTEGER PRIMARY KEY, value TEXT)")
    assert refusal(path) == f"{path}: an SQLite database with neither nvprof nor nsys tables; {DETECT_EXPECTED}"


def test_unreadable_sqlite_file(tmp_path):
    path = tmp_path / "broken.sqlite"
    path.write_bytes(b"SQLite format 3\x00" + bytes(84))
    assert refusal(path) == f"{path}: unreadable SQLite database (file is not a database); {DETECT_EXPECTED}"


def test_nvprof_file_with_both_kernel_tables(nvprof_file):
    # nvprof writes the older kernel table too; the concurrent one is read
    path = edited(nvprof_file, "CREATE TABLE CUPTI_ACTIVITY_KIND_KERNEL AS "
                  "SELECT * FROM CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL WHERE 0")
    analysis = detect_and_analyze(path)
    assert (analysis.tool, analysis.metrics["gpu0.busy_time"].value) == ("nvprof", 750)


def test_nsys_export_without_target_info(nsys_file):
    path = edited(nsys_file, "DROP TABLE TARGET_INFO_GPU", "DROP TABLE TARGET_INFO_CUDA_DEVICE")
    analysis = detect_and_analyze(path)
    assert (analysis.tool, analysis.metrics["gpu0.busy_time"].value) == ("nsys", 750)
    assert analysis.tables["per_device"][0]["device"] == 0 and "name" not in analysis.tables["per_device"][0]


def test_nsys_target_info_alone_is_read_as_nsys(tmp_path):
    path = edited(tmp_path / "report.sqlite", "CREATE TABLE TARGET_INFO_GPU (vmId INTEGER, id INTEGER, name TEXT)")
    assert refusal(path) == (
        f"{path}: no CUPTI_ACTIVITY_KIND_KERNEL table with StringIds (was CUDA tracing on: nsys profile -t cuda?); "
        "expected an Nsight Systems SQLite export (nsys export --type sqlite, or nsys profile --export=sqlite)"
    )


def test_memory_file(tmp_path):
    peak = {category: 10 * (i + 1) for i, category in enumerate(CATEGORIES)}  # 10 .. 70 bytes
    path = tmp_path / "memory.json"
    path.write_text(json.dumps({"format": FILE_FORMAT, "version": 1, "run_batch_size": 2,
                                "points": {"2": {"peak": {**peak, "total": 280}, "end": {**peak, "total": 280}}}}))
    analysis = detect_and_analyze(path)
    assert (analysis.tool, analysis.source) == ("memory", path)
    assert (analysis.metrics["peak_total"].value, analysis.metrics["peak_activations"].value) == (280, 50)


KERN_SUM_HEADER = "Time (%),Total Time (ns),Instances,Avg (ns),Med (ns),Min (ns),Max (ns),StdDev (ns),Name"
KERN_SUM_ROW = "61.9,650,3,216.7,300.0,50,300,144.3,relu_kernel"


def test_windows_line_ends_are_read(tmp_path):
    path = tmp_path / "kern_sum.csv"
    path.write_bytes(f"{KERN_SUM_HEADER}\r\n{KERN_SUM_ROW}\r\n".encode())
    analysis = detect_and_analyze(path)
    assert (analysis.tool, analysis.metrics["kernel_count"].value) == ("nsys", 3)


@pytest.mark.parametrize("after_last_column", ["  ", "\t", "X"])
def test_a_header_with_more_after_its_last_column_is_no_header(tmp_path, after_last_column):
    # only the line end is removed: the kern_sum analyzer would not find its header in this file either
    path = tmp_path / "kern_sum.csv"
    path.write_text(f"{KERN_SUM_HEADER}{after_last_column}\n{KERN_SUM_ROW}\n")
    assert refusal(path) == f"{path}: not a supported profiler output; {DETECT_EXPECTED}"
