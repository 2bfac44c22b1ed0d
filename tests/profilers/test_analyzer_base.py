import json
from pathlib import Path

import pytest

from dnn_suite.metrics import Metric
from dnn_suite_profilers.analyzers import Analysis
from dnn_suite_profilers.analyzers.base import format_table, format_value


def make_analysis(rows: int) -> Analysis:
    return Analysis(
        tool="demo",
        source=Path("/tmp/x.log"),
        metrics={
            "compute_utilization": Metric(62.5, "%", "mean over devices"),
            "kernel_time": Metric(1234567, "ns"),
            "energy": Metric(None, "J"),
        },
        tables={"top_kernels": [{"total_ns": 10 * i, "name": "k" * 150} for i in range(rows)]},
    )


def test_to_json_round_trips():
    data = json.loads(json.dumps(make_analysis(2).to_json()))
    assert data["source"] == "/tmp/x.log"
    assert data["metrics"]["kernel_time"] == {"value": 1234567, "unit": "ns"}
    assert data["tables"]["top_kernels"][1]["total_ns"] == 10


def test_format_text():
    text = make_analysis(20).format_text(max_rows=3)
    lines = text.splitlines()
    assert lines[0] == "demo analysis of /tmp/x.log"
    assert "compute_utilization" in lines[1] and "62.5 %" in lines[1] and "(mean over devices)" in lines[1]
    assert "1.23 ms" in lines[2]  # 1,234,567 ns, as a person reads it
    assert "n/a J" in lines[3]
    assert "top_kernels (20 rows, first 3 shown)" in text
    assert "k" * 97 + "..." in text and "k" * 101 not in text
    assert [line.split()[0] for line in lines[-3:]] == ["0", "10", "20"]


def test_format_text_whole_output():
    analysis = Analysis(
        tool="demo",
        source=Path("/tmp/x.log"),
        metrics={
            "compute_utilization": Metric(62.5, "%", "mean over devices"),
            "kernel_time": Metric(1234567, "ns"),
            "energy": Metric(None, "J", "from NVML"),
        },
        tables={
            "window": [{"start_ns": 1000, "source": "NVTX range"}],
            "per_device": [{"device": 0, "busy": 0.123456}, {"device": 1, "busy": None, "name": "H200"}],
            "top_kernels": [
                {"name": "gemm", "pct": 1000.0, "flag": True},
                {"name": "relu_kernel", "pct": -1500.0, "flag": False},
                {"name": "third", "pct": 0.5, "flag": True},
            ],
            "empty": [],
        },
    )
    # Numeric columns (None counts as one) are right-aligned, text and bool columns left-aligned;
    # a cell missing from a row reads n/a; every line is stripped on the right.
    assert analysis.format_text(max_rows=2).splitlines() == [
        "demo analysis of /tmp/x.log",
        "  compute_utilization  62.5 %   (mean over devices)",
        "  kernel_time          1.23 ms",
        "  energy               n/a J    (from NVML)",
        "",
        "window (1 row)",
        "  start_ns  source",
        "      1 us  NVTX range",  # the unit its name ends in, readable
        "",
        "per_device (2 rows)",
        "  device   busy  name",
        "       0  0.123  n/a",
        "       1    n/a  H200",
        "",
        "top_kernels (3 rows, first 2 shown)",
        "  name            pct  flag",
        "  gemm          1,000  True",
        "  relu_kernel  -1,500  False",
        "",
        "empty (0 rows)",
    ]


def test_format_text_without_metrics_or_tables():
    assert Analysis(tool="demo", source=Path("/tmp/x.log"), metrics={}).format_text() == "demo analysis of /tmp/x.log"


def test_format_text_shows_15_rows_by_default():
    lines = make_analysis(16).format_text().splitlines()
    assert lines[5] == "top_kernels (16 rows, first 15 shown)"
    assert [line.split()[0] for line in lines[7:]] == [str(10 * i) for i in range(15)]


def test_cells_are_cut_after_100_characters():
    assert format_table("names", [{"name": "a" * 100}, {"name": "b" * 101}], max_rows=5) == [
        "names (2 rows)",
        "  name",
        "  " + "a" * 100,
        "  " + "b" * 97 + "...",
    ]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "n/a"),
        (True, "True"),
        ("gemm", "gemm"),
        (1234567, "1,234,567"),
        (1000.0, "1,000"),
        (-1500.4, "-1,500"),
        (999.4, "999"),
        (0.123456, "0.123"),
    ],
)
def test_format_value(value, text):
    assert format_value(value) == text


def test_table_figures_are_shown_in_their_declared_or_named_unit():
    """A column's unit comes from the table's declaration, else from its name's ending; the JSON keeps
    the exact numbers."""
    analysis = Analysis("demo", Path("/tmp/x.log"), {}, tables={"peaks": [
        {"phase": "peak", "activations": 1_835_008_000, "time_ms": 12_500.0, "idle_pct": 3.25, "calls": 12}]},
        column_units={"peaks": {"activations": "bytes"}})
    assert analysis.format_text().splitlines()[-2:] == [
        "  phase  activations  time_ms  idle_pct  calls",
        "  peak      1.71 GiB   12.5 s     3.25%     12",
    ]
    assert analysis.to_json()["tables"]["peaks"][0]["activations"] == 1_835_008_000
