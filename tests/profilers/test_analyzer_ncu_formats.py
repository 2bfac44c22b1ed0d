"""Nsight Compute CSV as different versions and locales write it: unit spellings, the
per-kernel summary, locale numbers. Expected values are computed by hand from the fixtures."""

import pytest

from dnn_suite_profilers.analyzers import InvalidProfileFile, analyze_ncu, detect_and_analyze
from dnn_suite_profilers.analyzers.ncu import parse_ncu_log
from dnn_suite_profilers.analyzers.ncu_units import (
    ENGLISH,
    NON_ENGLISH,
    UnknownUnit,
    canonical,
    number_style,
    parse_number,
)

FMA = "sm__inst_executed_pipe_fma.avg.pct_of_peak_sustained_elapsed"
HEADER = ('"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream","Block Size","Grid Size",'
          '"Device","CC","Section Name","Metric Name","Metric Unit","Metric Value"')


def row(metric, unit, value, launch=0):
    return (f'"{launch}","1","python3","host","k","1","7","(1, 1, 1)","(1, 1, 1)","0","9.0","Command line profiler '
            f'metrics","{metric}","{unit}","{value}"')


def values(analysis):
    return {key: metric.value for key, metric in analysis.metrics.items()}


@pytest.mark.parametrize(("unit", "expected"), [
    # durations, long and short, to nanoseconds
    ("nsecond", ("ns", 1)), ("usecond", ("ns", 1e3)), ("msecond", ("ns", 1e6)), ("second", ("ns", 1e9)),
    ("ns", ("ns", 1)), ("us", ("ns", 1e3)), ("ms", ("ns", 1e6)), ("s", ("ns", 1e9)),
    # bytes, long, short and binary
    ("byte", ("byte", 1)), ("Kbyte", ("byte", 1e3)), ("Mbyte", ("byte", 1e6)), ("Gbyte", ("byte", 1e9)),
    ("Tbyte", ("byte", 1e12)), ("B", ("byte", 1)), ("KB", ("byte", 1e3)), ("kB", ("byte", 1e3)),
    ("MB", ("byte", 1e6)), ("GB", ("byte", 1e9)), ("KiB", ("byte", 1024)), ("MiB", ("byte", 2**20)),
    ("GiB", ("byte", 2**30)),
    # rates, to per second
    ("byte/second", ("byte/second", 1)), ("Kbyte/second", ("byte/second", 1e3)),
    ("Gbyte/second", ("byte/second", 1e9)), ("Tbyte/second", ("byte/second", 1e12)),
    ("B/s", ("byte/second", 1)), ("MB/s", ("byte/second", 1e6)), ("GB/s", ("byte/second", 1e9)),
    ("byte/usecond", ("byte/second", 1e6)), ("cycle/nsecond", ("cycle/second", 1e9)),
    ("cycle/usecond", ("cycle/second", 1e6)), ("inst/cycle", ("inst/cycle", 1)),
    # cycles, frequencies, counted things
    ("cycle", ("cycle", 1)), ("Kcycle", ("cycle", 1e3)), ("Mcycle", ("cycle", 1e6)), ("Gcycle", ("cycle", 1e9)),
    ("Ghz", ("hz", 1e9)), ("Mhz", ("hz", 1e6)), ("GHz", ("hz", 1e9)), ("MHz", ("hz", 1e6)),
    ("inst", ("inst", 1)), ("Kinst", ("inst", 1e3)), ("Minst", ("inst", 1e6)), ("warp", ("warp", 1)),
    ("register/thread", ("register/thread", 1)), ("Kbyte/block", ("byte/block", 1e3)),
    ("sector/request", ("sector/request", 1)),
    # dimensionless
    ("%", ("%", 1)), ("", ("", 1)), (" ", ("", 1)),
])
def test_every_unit_spelling(unit, expected):
    base, factor = canonical(unit)
    assert (base, factor) == (expected[0], pytest.approx(expected[1]))


@pytest.mark.parametrize("unit", ["furlong", "usec", "KiHz", "Kicycle", "byte/", "/second", "%/s", "Kbytes", "xs"])
def test_unknown_units_are_refused_naming_the_whole_unit(unit):
    with pytest.raises(UnknownUnit) as refused:
        canonical(unit)
    assert str(refused.value) == unit  # "byte/" is named as such, not its empty denominator


def test_short_units_log(fixtures_dir):
    # kernels (cycles, duration, fma %, dram bytes, dram rate):
    #   gemm 2 Kcycle, 1.5 us,   10, 4 MB,  2 GB/s
    #   relu 6,000 cycle, 0.25 ms, 30, 512 KB, 1,500 MB/s
    #   copy 0.002 Mcycle, 0.000001 s, n/a, 100 B, 5 B/s
    log = fixtures_dir / "ncu_short_units.log"
    analysis = detect_and_analyze(log)
    v = values(analysis)
    assert v["kernel_count"] == 3
    assert v["cycles"] == 2_000 + 6_000 + 2_000
    assert v["kernel_time"] == pytest.approx(1_500 + 250_000 + 1_000)
    assert v["fma_utilization"] == pytest.approx((2 * 10 + 6 * 30) / 8)  # copy has no fma value
    launches = {launch.name: launch.metrics for launch in parse_ncu_log(log).launches}
    assert launches["gemm"]["dram__bytes.sum"] == pytest.approx(4e6)
    assert launches["relu"]["dram__bytes.sum"] == pytest.approx(512e3)
    assert launches["gemm"]["dram__bytes.sum.per_second"] == pytest.approx(2e9)
    assert launches["relu"]["dram__bytes.sum.per_second"] == pytest.approx(1.5e9)
    assert launches["copy"]["dram__bytes.sum.per_second"] == pytest.approx(5)


def test_same_kernel_time_whatever_the_spelling(tmp_path):
    kernel_times = []
    for unit, value in [("nsecond", "2,500"), ("ns", "2,500"), ("usecond", "2.5"), ("us", "2.5"),
                        ("msecond", "0.0025"), ("ms", "0.0025"), ("second", "0.0000025"), ("s", "0.0000025")]:
        log = tmp_path / f"{unit}.log"
        log.write_text("\n".join([HEADER, row("gpc__cycles_elapsed.max", "cycle", "100"),
                                  row("gpu__time_duration.sum", unit, value)]) + "\n")
        kernel_times.append(analyze_ncu(log).metrics["kernel_time"].value)
    assert kernel_times == pytest.approx([2_500] * 8)


def test_unknown_unit_names_metric_and_unit(tmp_path):
    log = tmp_path / "ncu.log"
    log.write_text("\n".join([HEADER, row("gpc__cycles_elapsed.max", "cycle", "100"),
                              row("gpu__time_duration.sum", "fortnight", "3")]) + "\n")
    with pytest.raises(InvalidProfileFile) as info:
        analyze_ncu(log)
    message = str(info.value)
    assert "gpu__time_duration.sum" in message and "'fortnight'" in message
    assert "\n" not in message and info.value.exit_code == 2


def test_unit_of_a_missing_value_is_not_checked(tmp_path):
    log = tmp_path / "ncu.log"
    log.write_text("\n".join([HEADER, row("gpc__cycles_elapsed.max", "cycle", "100"),
                              row(FMA, "n/a", "n/a")]) + "\n")
    assert analyze_ncu(log).metrics["fma_utilization"].value is None


def test_per_kernel_summary_weighted_by_invocations(fixtures_dir):
    # gemm: 3 invocations, average 1,000 cycles, 2.00 us, fma 40, xu 10
    # softmax: 1 invocation, 3 Kcycle, 6,000 ns, fma 20, xu n/a
    log = fixtures_dir / "ncu_per_kernel_summary.log"
    analysis = detect_and_analyze(log)
    v = values(analysis)
    assert v["kernel_count"] == 4
    assert v["cycles"] == 3 * 1_000 + 3_000
    assert v["kernel_time"] == pytest.approx(3 * 2_000 + 6_000)
    assert v["fma_utilization"] == pytest.approx((3_000 * 40 + 3_000 * 20) / 6_000)  # 30; 35 unweighted
    assert v["sfu_utilization"] == pytest.approx(10)
    assert "over 3 kernels" in analysis.metrics["sfu_utilization"].description
    rows = analysis.tables["per_kernel"]
    assert [(r["name"], r["invocations"], r["cycles"]) for r in rows] == [
        ("void gemm<float>(float*)", 3, 1_000), ("softmax", 1, 3_000)]


def test_per_kernel_summary_bad_invocations(tmp_path):
    log = tmp_path / "ncu.log"
    log.write_text('"Process ID","Kernel Name","Block Size","Grid Size","Invocations","Section Name","Metric Name",'
                   '"Metric Unit","Minimum","Maximum","Average"\n'
                   '"1","k","(1, 1, 1)","(1, 1, 1)","0","s","gpc__cycles_elapsed.max","cycle","5","5","5"\n')
    with pytest.raises(InvalidProfileFile, match="Invocations '0' of kernel 'k'"):
        analyze_ncu(log)


def test_non_english_locale_is_detected(fixtures_dir):
    # gemm 27.595.520 cycles, 12,5 us, fma 40,25; relu 1.000 cycles (one thousand), 0,5 ms, fma 10
    v = values(analyze_ncu(fixtures_dir / "ncu_locale_de.log"))
    assert v["cycles"] == 27_595_520 + 1_000
    assert v["kernel_time"] == pytest.approx(12_500 + 500_000)
    assert v["fma_utilization"] == pytest.approx((27_595_520 * 40.25 + 1_000 * 10) / 27_596_520)


def test_numbers_in_two_locales_are_refused(tmp_path):
    log = tmp_path / "ncu.log"
    log.write_text("\n".join([HEADER, row("gpc__cycles_elapsed.max", "cycle", "27.595.520"),
                              row(FMA, "%", "12.5")]) + "\n")
    with pytest.raises(InvalidProfileFile, match=r"numbers in two locales \('12.5' .* '27.595.520'"):
        analyze_ncu(log)


@pytest.mark.parametrize(("texts", "style"), [
    (["10,240,000", "1.5", "n/a", "7"], ENGLISH),
    (["1,000", "1.000", "12"], ENGLISH),  # nothing that reads only one way: ncu's default
    (["27.595.520", "1.000"], NON_ENGLISH),
    (["1,5"], NON_ENGLISH),
    (["1.234,5", "3"], NON_ENGLISH),
    (["1e+06", "1,5"], NON_ENGLISH),
])
def test_number_style(texts, style):
    assert number_style(texts) == style


@pytest.mark.parametrize(("text", "style", "value"), [
    ("10,240,000", ENGLISH, 10_240_000), ("1,234.5", ENGLISH, 1234.5), ("0.5", ENGLISH, 0.5), ("-3", ENGLISH, -3),
    ("1.5e+03", ENGLISH, 1500), ("27.595.520", NON_ENGLISH, 27_595_520), ("1.234,5", NON_ENGLISH, 1234.5),
    ("0,25", NON_ENGLISH, 0.25), ("1.000", NON_ENGLISH, 1000), ("1.000", ENGLISH, 1.0),
    ("n/a", ENGLISH, None), ("", NON_ENGLISH, None), ("(1, 1, 1)", ENGLISH, None),
])
def test_parse_number(text, style, value):
    assert parse_number(text, style) == value


def test_report_counts_each_invocation(fixtures_dir):
    from dnn_suite.reporting.report import aggregate_kernels

    rows = analyze_ncu(fixtures_dir / "ncu_per_kernel_summary.log").tables["per_kernel"]
    gemm = aggregate_kernels(rows)[0]
    assert (gemm["launches"], gemm["cycles"], gemm["duration_ns"]) == (3, 3_000, pytest.approx(6_000))
    assert gemm["fma_utilization"] == pytest.approx(40) and "invocations" not in gemm


SUMMARY_HEADER = ('"Process ID","Kernel Name","Block Size","Grid Size","Invocations","Section Name","Metric Name",'
                  '"Metric Unit","Minimum","Maximum","Average"')


def summary_rows(block, grid, invocations, cycles, fma, pid="5"):
    launch = f'"{pid}","gemm","{block}","{grid}","{invocations}","s"'
    return [f'{launch},"gpc__cycles_elapsed.max","cycle","1","1","{cycles}"', f'{launch},"{FMA}","%","1","1","{fma}"']


@pytest.mark.parametrize("configs", [
    (("(128, 1, 1)", "(8, 1, 1)"), ("(256, 1, 1)", "(8, 1, 1)")),  # two block sizes
    (("(128, 1, 1)", "(8, 1, 1)"), ("(128, 1, 1)", "(16, 1, 1)")),  # two grid sizes
])
def test_per_kernel_summary_keeps_launch_configurations_apart(tmp_path, configs):
    # one kernel, two launch configurations: 2 x 1,000 cycles at fma 10, 3 x 4,000 cycles at fma 60
    (block_a, grid_a), (block_b, grid_b) = configs
    log = tmp_path / "ncu.log"
    log.write_text("\n".join([SUMMARY_HEADER, *summary_rows(block_a, grid_a, 2, "1,000", 10),
                              *summary_rows(block_b, grid_b, 3, "4,000", 60)]) + "\n")
    analysis = analyze_ncu(log)
    v = values(analysis)
    assert v["kernel_count"] == 5
    assert v["cycles"] == 2 * 1_000 + 3 * 4_000
    assert v["fma_utilization"] == pytest.approx((2_000 * 10 + 12_000 * 60) / 14_000)
    assert [(r["process_id"], r["id"], r["device"], r["invocations"], r["cycles"])
            for r in analysis.tables["per_kernel"]] == [("5", "", None, 2, 1_000), ("5", "", None, 3, 4_000)]


def test_per_kernel_summary_invocations_in_the_logs_locale(tmp_path):
    # German thousands separators: 1.200 invocations of 2.000 cycles (2,5 %), 2 of 0,5 Kcycle
    log = tmp_path / "ncu.log"
    rows = [*summary_rows("(1, 1, 1)", "(1, 1, 1)", "1.200", "2.000", "2,5"),
            *summary_rows("(2, 1, 1)", "(1, 1, 1)", "2", "1.000", "10")]
    log.write_text("\n".join([SUMMARY_HEADER, *rows]) + "\n")
    v = values(analyze_ncu(log))
    assert v["kernel_count"] == 1_202
    assert v["cycles"] == 1_200 * 2_000 + 2 * 1_000
    assert v["fma_utilization"] == pytest.approx((2_400_000 * 2.5 + 2_000 * 10) / 2_402_000)


def test_launches_without_a_value_add_nothing_to_the_sums(tmp_path):
    # three launches: 100 cycles 2 us, n/a cycles 3 us, 300 cycles n/a us
    lines = [HEADER,
             row("gpc__cycles_elapsed.max", "cycle", "100", launch=0), row("gpu__time_duration.sum", "us", "2", 0),
             row("gpc__cycles_elapsed.max", "cycle", "n/a", launch=1), row("gpu__time_duration.sum", "us", "3", 1),
             row("gpc__cycles_elapsed.max", "cycle", "300", launch=2), row("gpu__time_duration.sum", "us", "n/a", 2)]
    log = tmp_path / "ncu.log"
    log.write_text("\n".join(lines) + "\n")
    v = values(analyze_ncu(log))
    assert (v["kernel_count"], v["cycles"], v["kernel_time"]) == (3, 400, pytest.approx(5_000))
