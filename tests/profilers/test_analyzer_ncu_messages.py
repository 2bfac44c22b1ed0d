"""What an ncu analysis tells the user besides the numbers: each metric's unit and the source
it names, and the whole one-line message of every way a log is refused."""

import pytest

from dnn_suite_profilers.analyzers import InvalidProfileFile, ProfilerToolError, analyze_ncu, detect_and_analyze

EXPECTED = ('expected the output of ncu --csv (a CSV header line starting with "ID", or "Process ID" for '
            "--print-summary per-kernel)")
LONG_HEADER = '"ID","Process ID","Kernel Name","Metric Name","Metric Unit","Metric Value"'
SUMMARY_HEADER = ('"Process ID","Kernel Name","Block Size","Grid Size","Invocations","Section Name","Metric Name",'
                  '"Metric Unit","Minimum","Maximum","Average"')
FMA = "sm__inst_executed_pipe_fma.avg.pct_of_peak_sustained_elapsed"
NO_KERNELS_FIX = ("Check that the program launches CUDA kernels after cudaProfilerStart (with --profile-from-start "
                  "off) and that the -k / --nvtx filters match them")


def write(tmp_path, *lines):
    log = tmp_path / "ncu.log"
    log.write_text("\n".join(lines) + "\n")
    return log


def test_units_and_descriptions_name_the_source(fixtures_dir):
    log = fixtures_dir / "ncu_new_columns.log"
    analysis = analyze_ncu(log)
    described = {key: (metric.unit, metric.description) for key, metric in analysis.metrics.items()}
    mean = "cycle-weighted mean over {} kernels"
    assert described == {
        "kernel_count": ("kernels", "kernel launches profiled"),
        "cycles": ("cycles", "sum of gpc__cycles_elapsed.max"),
        "fma_utilization": ("%", f"FMA utilization: {FMA}, {mean.format(3)}"),
        "fp16_utilization": ("%", "FP16 utilization: sm__inst_executed_pipe_fma_type_fp16"
                                  f".avg.pct_of_peak_sustained_elapsed, {mean.format(2)}"),
        "tensor_utilization": ("%", "Tensor utilization: sm__pipe_tensor_cycles_active"
                                    f".avg.pct_of_peak_sustained_elapsed, {mean.format(3)}"),
        "sfu_utilization": ("%", "SFU (xu) utilization: sm__inst_executed_pipe_xu"
                                 f".avg.pct_of_peak_sustained_elapsed, {mean.format(3)}"),
        "achieved_occupancy": ("%", "achieved occupancy: sm__warps_active.avg.pct_of_peak_sustained_active, "
                                    f"{mean.format(3)}"),
        "kernel_time": ("ns", "sum of gpu__time_duration.sum"),
    }
    assert analysis.tool == "ncu" and analysis.source == log


def test_core_type_without_a_label_is_named_by_its_key(fixtures_dir):
    analysis = analyze_ncu(fixtures_dir / "ncu_old_columns.log", core_metrics={"fp32": FMA})
    described = analysis.metrics["fp32_utilization"].description
    assert described == f"fp32 utilization: {FMA}, cycle-weighted mean over 2 kernels"
    assert analysis.metrics["fp32_utilization"].value == pytest.approx(40)


@pytest.mark.parametrize(("lines", "problem"), [
    ((LONG_HEADER, f'"0","1","k","{FMA}","%","5"'),
     "no gpc__cycles_elapsed.max values; " + EXPECTED + ", profiled with gpc__cycles_elapsed.max"),
    ((LONG_HEADER, '"0","1","k","gpc__cycles_elapsed.max","cycle","27.595.520"', f'"0","1","k","{FMA}","%","12.5"'),
     "cannot read the numbers: numbers in two locales ('12.5' reads only as English, '27.595.520' only as "
     "a non-English locale); " + EXPECTED),
    ((SUMMARY_HEADER, '"1","k","(1, 1, 1)","(1, 1, 1)","2.5","s","gpc__cycles_elapsed.max","cycle","5","5","5"'),
     "Invocations '2.5' of kernel 'k'; " + EXPECTED + ", with a positive whole number of invocations"),
    ((LONG_HEADER, '"0","1","k","gpc__cycles_elapsed.max","fortnight","5"'),
     "metric gpc__cycles_elapsed.max has the unit 'fortnight', which ncu is not known to write; " + EXPECTED
     + "; units such as ns, usecond, byte, GB/s, cycle, %"),
    (("==PROF== Connected to process 1", "loss 0.5"), 'no CSV header line starting with "ID"; ' + EXPECTED),
])
def test_refused_logs_say_which_file_what_and_what_was_expected(tmp_path, lines, problem):
    log = write(tmp_path, *lines)
    with pytest.raises(InvalidProfileFile) as info:
        analyze_ncu(log)
    assert str(info.value) == f"{log}: {problem}"


def test_missing_log(tmp_path):
    with pytest.raises(InvalidProfileFile) as info:
        analyze_ncu(tmp_path / "absent.log")
    assert str(info.value) == f"{tmp_path / 'absent.log'}: cannot read it (No such file or directory); {EXPECTED}"


def test_permission_failure_names_the_tool_and_the_file(fixtures_dir):
    log = fixtures_dir / "ncu_permission.log"
    with pytest.raises(ProfilerToolError) as info:
        analyze_ncu(log)
    assert str(info.value).startswith(f"ncu failed ({log}): no permission to access the GPU performance counters "
                                      "(ERR_NVGPUCTRPERM). Run the benchmark as root")


@pytest.mark.parametrize(("fixture", "message"), [
    ("ncu_init_failure.log",
     "the profiler could not start: Failed to initialize the profiler: LibraryNotLoaded. Check that the NVIDIA "
     "driver is loaded and new enough for this Nsight Compute (nvidia-smi, ncu --version)"),
    ("ncu_no_kernels.log", "no kernels were profiled. " + NO_KERNELS_FIX),
])
def test_failed_runs_say_the_tool_the_file_and_the_fix(fixtures_dir, fixture, message):
    log = fixtures_dir / fixture
    with pytest.raises(ProfilerToolError) as info:
        analyze_ncu(log)
    assert str(info.value) == f"ncu failed ({log}): {message}"


def test_csv_starting_with_process_id_is_not_an_ncu_table(tmp_path):
    # Another tool's CSV whose first column happens to be "Process ID": no ncu header, not "no kernels".
    log = write(tmp_path, '"Process ID","Name","Memory"', '"1","python3","12"')
    with pytest.raises(InvalidProfileFile, match='no CSV header line starting with "ID"'):
        analyze_ncu(log)


@pytest.mark.parametrize("lines", [
    (SUMMARY_HEADER, '"1","k","(1, 1, 1)","(1, 1, 1)","2","s","gpc__cycles_elapsed.max","cycle","5","5","5"'),
    ("==WARNING== No kernels were profiled.",),
    ("==ERROR== Failed to find metric sm__foo.sum.",),
    ("==PROF== Connected to process 1", "==PROF== Disconnected from process 1"),
])
def test_detected_by_a_line_only_ncu_writes(tmp_path, lines):
    # A summary log without ==PROF== lines (ncu --log-file), or nothing but one of ncu's own lines.
    log = write(tmp_path, "loss 0.5", *lines)
    try:
        analysis = detect_and_analyze(log)
    except (ProfilerToolError, InvalidProfileFile) as e:
        assert str(e).startswith(("ncu failed", f'{log}: no CSV header line starting with "ID"; {EXPECTED}'))
    else:
        assert (analysis.tool, analysis.metrics["kernel_count"].value) == ("ncu", 2)
