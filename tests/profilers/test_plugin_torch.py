"""The torch profiler for real (on CPU here), together with the cpu sampler."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakes.harness import value


def test_torch_and_cpu_profilers(tiny_plugin, cli, tmp_path):
    result = cli("run", "tiny", "--profiler", "torch,cpu", "--iterations", 3, "--repeat", 2, "--warmup", 2,
                 "--output", tmp_path, "--json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    run_dir = Path(document["run_dir"])
    assert document["status"] == "ok"
    report = document["profilers"]["torch"]
    assert report["error"] is None
    assert {"torch/trace.json", "torch/top_ops.txt", "torch/top_ops.json"} <= set(report["artefacts"])

    trace = json.loads((run_dir / "torch" / "trace.json").read_text())
    names = [event.get("name") for event in trace["traceEvents"]]
    assert names.count("dnn_suite.window") == 2  # one span per measured window
    table = (run_dir / "torch" / "top_ops.txt").read_text()
    assert "Self CPU" in table and "# of Calls" in table

    rows = {row["name"]: row for row in json.loads((run_dir / "torch" / "top_ops.json").read_text())}
    # two Linear layers -> two addmm per forward; 6 measured iterations, the 2 warmup ones not profiled
    assert rows["aten::addmm"]["calls"] == 2 * 6
    assert "dnn_suite.window" not in rows
    ranked = sorted(rows.values(), key=lambda r: r["self_cpu_time_us"], reverse=True)
    top = [key[3:-len(".self_cpu_time")] for key in report["metrics"] if key.endswith(".self_cpu_time")]
    assert top == [r["name"] for r in ranked[:5]]  # top_ops defaults to 5, by self CPU time on CPU
    first = ranked[0]
    assert value(document, "torch", f"op.{first['name']}.calls") == first["calls"]
    assert value(document, "torch", f"op.{first['name']}.cpu_total") >= first["self_cpu_time_us"]
    assert len(rows) == min(25, value(document, "torch", "operators"))  # row_limit defaults to 25
    assert value(document, "torch", "self_cpu_time_total") >= sum(r["self_cpu_time_us"] for r in rows.values())
    assert not any(key.endswith(".cuda_time") for key in report["metrics"])  # CPU run

    cpu = document["profilers"]["cpu"]
    assert cpu["error"] is None and value(document, "cpu", "samples") >= 4  # both ends of 2 windows


@pytest.mark.parametrize("setting", ["profiler_options.torch.row_limit=0", "profiler_options.torch.top_ops=-1"])
def test_bad_options(tiny_plugin, cli, tmp_path, setting):
    result = cli("run", "tiny", "--profiler", "torch", "--set", setting, "--output", tmp_path)
    assert result.code == 2 and "expected a positive integer" in result.err
