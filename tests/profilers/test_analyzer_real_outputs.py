"""The analyzers on real, unedited tool output (tests/profilers/fixtures/real/, see SOURCES.md there).

Expected values are read off the files by hand (the numbers in the comments) or recomputed here
with the csv module, never taken from the analyzers' output.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest

from dnn_suite_profilers.analyzers import InvalidProfileFile, analyze_ncu, detect_and_analyze
from dnn_suite_profilers.analyzers.ncu import CYCLES_METRIC, parse_ncu_log

REAL = Path(__file__).parent / "fixtures" / "real"
# Nsight Compute 2026.2.1 on Windows (RTX 5070, CC 12.0), `ncu --csv --metrics ...` captured by PowerShell.
SAXPY = REAL / "ncu_2026.2_cmdline_metrics_saxpy.csv"
GEMM = REAL / "ncu_2026.2_cmdline_metrics_gemm_naive.csv"
SHA256 = {
    SAXPY: "dc527fc14aab1648923f693842a3812c4bb6a6ff4ba0781a506a531fce8a3ba9",
    GEMM: "0b9a89bec95e39312d5416f3d51e44d294de939d916410b5b83b4236c2890a5d",
}
NCU_LOGS = [SAXPY, GEMM]


@pytest.mark.parametrize("path", NCU_LOGS, ids=lambda p: p.name)
def test_real_files_are_unedited(path):
    """Byte for byte what SOURCES.md records, CRLF line ends included (no checkout conversion)."""
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == SHA256[path]
    assert data.count(b"\r\n") == data.count(b"\n") == 21


def csv_rows(path: Path) -> list[dict[str, str]]:
    """The metric rows of a log, read independently of the analyzer: the lines from the "ID" header on."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith('"ID",'))
    return list(csv.DictReader(lines[start:]))


# By hand from the files: (process id, kernel, metric -> value in the file's own unit, all of which
# are base units here: ns, byte, sector, %, or none).
EXPECTED = {
    SAXPY: ("58960", "unnamed>::saxpy_kernel(float, const float *, float *, int)", {
        "dram__bytes_op_read.sum": 134_221_568,
        "dram__bytes_op_write.sum": 43_631_104,
        "gpu__time_duration.sum": 292_928,
        "l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum": 0,
        "l1tex__t_requests_pipe_lsu_mem_global_op_ld.sum": 1_048_576,
        "l1tex__t_requests_pipe_lsu_mem_global_op_st.sum": 524_288,
        "l1tex__t_sectors_pipe_lsu_mem_global_op_ld.sum": 4_194_304,
        "l1tex__t_sectors_pipe_lsu_mem_global_op_st.sum": 2_097_152,
        "lts__t_sector_hit_rate.pct": 33.26,
        "sm__throughput.avg.pct_of_peak_sustained_elapsed": 22.30,
        "sm__warps_active.avg.pct_of_peak_sustained_active": 83.82,
        "smsp__thread_inst_executed_per_inst_executed.ratio": 32,
    }),
    GEMM: ("52060", "unnamed>::gemm_naive_kernel(const float *, const float *, float *, int, int, int)", {
        "dram__bytes_op_read.sum": 54_207_744,
        "dram__bytes_op_write.sum": 26_601_216,
        "gpu__time_duration.sum": 9_589_248,
        "l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum": 0,
        "l1tex__t_requests_pipe_lsu_mem_global_op_ld.sum": 536_870_912,
        "l1tex__t_requests_pipe_lsu_mem_global_op_st.sum": 131_072,
        "l1tex__t_sectors_pipe_lsu_mem_global_op_ld.sum": 1_342_177_280,
        "l1tex__t_sectors_pipe_lsu_mem_global_op_st.sum": 524_288,
        "lts__t_sector_hit_rate.pct": 100.39,  # over 100 in the file; reported as written
        "sm__throughput.avg.pct_of_peak_sustained_elapsed": 97.32,
        "sm__warps_active.avg.pct_of_peak_sustained_active": 66.61,
        "smsp__thread_inst_executed_per_inst_executed.ratio": 32,
    }),
}


@pytest.mark.parametrize("path", NCU_LOGS, ids=lambda p: p.name)
def test_ncu_log_launch_and_every_metric(path):
    process_id, kernel, metrics = EXPECTED[path]
    log = parse_ncu_log(path)
    assert log.has_header
    assert log.messages == []  # "==PROF==" lines and the program's own output are neither rows nor messages
    assert len(log.launches) == 1
    launch = log.launches[0]
    assert (launch.process_id, launch.launch_id, launch.name, launch.device) == (process_id, "0", kernel, "0")
    assert launch.invocations == 1
    assert launch.metrics == pytest.approx(metrics)
    assert CYCLES_METRIC not in launch.metrics


@pytest.mark.parametrize("path", NCU_LOGS, ids=lambda p: p.name)
def test_ncu_log_agrees_with_plain_csv(path):
    """Every metric row of the file, read with the csv module, against the parser: same metrics,
    values with the English thousands separators removed (every unit here is a base unit)."""
    rows = csv_rows(path)
    assert len(rows) == 12
    assert {row["Metric Unit"] for row in rows} == {"byte", "ns", "", "sector", "%"}
    by_hand = {row["Metric Name"]: float(row["Metric Value"].replace(",", "")) for row in rows}
    assert parse_ncu_log(path).launches[0].metrics == pytest.approx(by_hand)


def test_ncu_duration_and_dram_bytes_add_up_across_the_two_logs():
    launches = [parse_ncu_log(path).launches[0] for path in NCU_LOGS]
    assert sum(launch.metrics["gpu__time_duration.sum"] for launch in launches) == 292_928 + 9_589_248
    dram = sum(launch.metrics["dram__bytes_op_read.sum"] + launch.metrics["dram__bytes_op_write.sum"]
               for launch in launches)
    assert dram == 134_221_568 + 43_631_104 + 54_207_744 + 26_601_216


@pytest.mark.parametrize("path", NCU_LOGS, ids=lambda p: p.name)
@pytest.mark.parametrize("analyze", [analyze_ncu, detect_and_analyze], ids=["analyze_ncu", "detect_and_analyze"])
def test_ncu_log_without_cycles_is_refused_naming_the_metric(path, analyze):
    """These logs were profiled without gpc__cycles_elapsed.max, the weight of every utilization
    figure: detection must still recognize an ncu log behind the program's output, and the
    refusal must say what is missing, on one line, as a usage error."""
    with pytest.raises(InvalidProfileFile) as refused:
        analyze(path)
    message = str(refused.value)
    assert f"no {CYCLES_METRIC} values" in message
    assert f"profiled with {CYCLES_METRIC}" in message
    assert str(path) in message and "\n" not in message
    assert refused.value.exit_code == 2


# A shape seen in a real file that cannot be redistributed: an ncu 2025-era `--page details --csv`
# export (Block Size..CC plus the five Rule columns) found in a public repository without a licence
# (petebachant/clima-gpu-profiling, results/ncu/baseline-details.csv at 18a75911c6a1). Its metric
# rows end after the value with a bare comma, leaving out the empty Rule fields (16 fields under a
# 20-column header), while rule rows fill all 20. The parser used to skip every such metric row.
# The lines below are written here by hand in that shape; the values are invented.
DETAILS_HEADER = (
    '"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream","Block Size","Grid Size",'
    '"Device","CC","Section Name","Metric Name","Metric Unit","Metric Value","Rule Name","Rule Type",'
    '"Rule Description","Estimated Speedup Type","Estimated Speedup"'
)


def details_row(launch: int, kernel: str, metric: str, unit: str, value: str) -> str:
    return (f'"{launch}","7","julia","127.0.0.1","{kernel}","1","13","(576, 1, 1)","(171, 1, 1)","0","8.0",'
            f'"Command line profiler metrics","{metric}","{unit}","{value}",')


def test_details_rows_without_the_empty_rule_fields_are_read(tmp_path):
    fma = "sm__inst_executed_pipe_fma.avg.pct_of_peak_sustained_elapsed"
    lines = [
        DETAILS_HEADER,
        details_row(0, "solve", CYCLES_METRIC, "cycle", "826,950"),
        details_row(0, "solve", "gpu__time_duration.sum", "us", "725.44"),
        details_row(0, "solve", fma, "%", "5.20"),
        '"0","7","julia","127.0.0.1","solve","1","13","(576, 1, 1)","(171, 1, 1)","0","8.0","SpeedOfLight","","",'
        '"","SOLBottleneck","OPT","This kernel grid is too small.","",""',
        details_row(1, "step", CYCLES_METRIC, "cycle", "173,050"),
        details_row(1, "step", "gpu__time_duration.sum", "us", "150.00"),
        details_row(1, "step", fma, "%", "45.00"),
    ]
    assert [len(next(csv.reader([line]))) for line in lines] == [20, 16, 16, 16, 20, 16, 16, 16]
    log = tmp_path / "details.csv"
    log.write_text("\r\n".join(lines) + "\r\n")
    analysis = analyze_ncu(log)
    values = {key: metric.value for key, metric in analysis.metrics.items()}
    assert values["kernel_count"] == 2
    assert values["cycles"] == 826_950 + 173_050
    assert values["kernel_time"] == pytest.approx(725_440 + 150_000)
    assert values["fma_utilization"] == pytest.approx((826_950 * 5.20 + 173_050 * 45.00) / 1_000_000)


def test_rows_longer_than_the_header_or_cut_before_the_value_are_still_skipped(tmp_path):
    lines = [
        DETAILS_HEADER,
        details_row(0, "solve", CYCLES_METRIC, "cycle", "1,000"),
        # cut before "Metric Value": not a row of the table
        '"1","7","julia","127.0.0.1","cut","1","13","(1, 1, 1)","(1, 1, 1)","0","8.0","S","' + CYCLES_METRIC + '"',
        # cut just before "Metric Value", after the unit: not a row either
        '"3","7","julia","127.0.0.1","unit","1","13","(1, 1, 1)","(1, 1, 1)","0","8.0","S","' + CYCLES_METRIC
        + '","cycle"',
        # one field too many
        details_row(2, "long", CYCLES_METRIC, "cycle", "5,000") + '"","","","","","extra"',
    ]
    log = tmp_path / "details.csv"
    log.write_text("\n".join(lines) + "\n")
    assert [launch.name for launch in parse_ncu_log(log).launches] == ["solve"]
