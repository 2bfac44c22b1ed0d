import json
from pathlib import Path

from dnn_suite.metrics import Metric
from dnn_suite_profilers.analyzers import Analysis


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
