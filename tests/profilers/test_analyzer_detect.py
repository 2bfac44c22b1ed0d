import sqlite3

import pytest

from dnn_suite_profilers.analyzers import InvalidProfileFile, ProfilerToolError, detect_and_analyze


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
