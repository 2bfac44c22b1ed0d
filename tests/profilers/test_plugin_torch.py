"""The torch profiler for real (on CPU here), together with the cpu sampler: its schedule over the
run's iterations, one gzipped kineto trace per process with a ProfilerStep#N per recorded
iteration and the phases of dnn_suite.phases nested in each, and the top operators."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from dnn_suite.phases import PHASES
from fakes.harness import value

PHASE_RECORDS = [f"dnn_suite.{name}" for name in PHASES]


def _trace(run_dir: Path, rank: int = 0) -> dict:
    with gzip.open(run_dir / "torch" / "traces" / f"rank{rank}.pt.trace.json.gz", "rt", encoding="utf-8") as f:
        return json.load(f)


def _annotations(trace: dict) -> list[dict]:
    """The CPU-side ranges of record_function (steps, phases, windows), in time order."""
    events = [e for e in trace["traceEvents"] if e.get("cat") == "user_annotation" and e.get("ph") == "X"]
    return sorted(events, key=lambda e: e["ts"])


def _steps(trace: dict) -> list[dict]:
    return [e for e in _annotations(trace) if e["name"].startswith("ProfilerStep#")]


def _inside(inner: dict, outer: dict) -> bool:
    return (inner["tid"] == outer["tid"] and outer["ts"] <= inner["ts"]
            and inner["ts"] + inner["dur"] <= outer["ts"] + outer["dur"])


def test_torch_and_cpu_profilers(tiny_plugin, cli, tmp_path):
    result = cli("run", "tiny", "--profiler", "torch,cpu", "--iterations", 3, "--repeat", 2, "--warmup", 2,
                 "--output", tmp_path, "--json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    run_dir = Path(document["run_dir"])
    assert document["status"] == "ok"
    report = document["profilers"]["torch"]
    assert report["error"] is None
    assert set(report["artefacts"]) == {"torch/traces/rank0.pt.trace.json.gz", "torch/top_ops.txt",
                                        "torch/top_ops.json", "torch/analysis.json"}

    trace = _trace(run_dir)
    assert trace["distributedInfo"] == {"rank": 0, "world_size": 1}  # HTA needs the rank
    annotations = _annotations(trace)
    windows = [e for e in annotations if e["name"] == "dnn_suite.window"]
    assert len(windows) == 2  # one span per measured window
    # The default schedule waits 1 and warms up 1 (the run's 2 warmup iterations, ProfilerStep#0
    # and #1, not in the trace) and records the 6 measured ones, 3 in each window.
    steps = _steps(trace)
    assert [e["name"] for e in steps] == [f"ProfilerStep#{n}" for n in range(2, 8)]
    assert [sum(_inside(s, w) for s in steps) for w in windows] == [3, 3]
    for step in steps:  # every phase once in every step, in the order an iteration runs them
        phases = [e["name"] for e in annotations if e["name"].startswith("dnn_suite.") and _inside(e, step)
                  and e["name"] != "dnn_suite.window"]
        assert phases == PHASE_RECORDS, step["name"]
    outside = [e for e in annotations if e["name"] in PHASE_RECORDS and not any(_inside(e, s) for s in steps)]
    assert outside == []
    assert value(document, "torch", "iterations") == 6

    table = (run_dir / "torch" / "top_ops.txt").read_text()
    assert "Self CPU" in table and "# of Calls" in table
    rows = {row["name"]: row for row in json.loads((run_dir / "torch" / "top_ops.json").read_text())}
    # two Linear layers -> two addmm per forward; 6 measured iterations, the 2 warmup ones not profiled
    assert rows["aten::addmm"]["calls"] == 2 * 6
    assert not any(name.startswith(("dnn_suite.", "ProfilerStep")) for name in rows)  # operators only
    ranked = sorted(rows.values(), key=lambda r: r["self_cpu_time_us"], reverse=True)
    top = [key[3:-len(".self_cpu_time")] for key in report["metrics"] if key.endswith(".self_cpu_time")]
    assert top == [r["name"] for r in ranked[:5]]  # top_ops defaults to 5, by self CPU time on CPU
    first = ranked[0]
    assert value(document, "torch", f"op.{first['name']}.calls") == first["calls"]
    assert value(document, "torch", f"op.{first['name']}.cpu_total") >= first["self_cpu_time_us"]
    assert len(rows) == min(25, value(document, "torch", "operators"))  # row_limit defaults to 25
    assert value(document, "torch", "self_cpu_time_total") >= sum(r["self_cpu_time_us"] for r in rows.values())
    assert not any(key.endswith(".cuda_time") for key in report["metrics"])  # CPU run

    # The run analyses its own trace (as dnn-suite analyze does): a CPU run, so the host side only.
    assert value(document, "torch", "trace.step.count") == 6
    assert value(document, "torch", "trace.gpu_activity") == 0
    shares = [value(document, "torch", f"trace.step.{c}_share") for c in
              ("kernel", "memcpy", "memset", "communication", "runtime", "dataloader", "cpu_exec", "other")]
    assert sum(shares) == pytest.approx(1.0) and shares[:5] == [0, 0, 0, 0, 0] and shares[6] > 0
    assert {f"trace.phase.{p.removeprefix('dnn_suite.')}.host_share" for p in PHASE_RECORDS} <= set(report["metrics"])
    saved = json.loads((run_dir / "torch" / "analysis.json").read_text())
    assert saved["tool"] == "kineto" and "diagnosis" in saved["tables"]
    assert value(document, "torch", "trace.findings") == len(saved["tables"]["diagnosis"])

    cpu = document["profilers"]["cpu"]
    assert cpu["error"] is None and value(document, "cpu", "samples") >= 4  # both ends of 2 windows

    assert cli("report", run_dir).code == 0  # the report shows the breakdown, the phases and the diagnosis
    report_md = (run_dir / "report.md").read_text()
    section = report_md.split("## Where the step time goes", 1)[1].split("\n## ", 1)[0]
    assert "no GPU activity in the trace" in section
    assert section.count("| ProfilerStep#") == 6 and "| backward |" in section
    assert ("| # | finding | evidence | fix |" in section) == bool(saved["tables"]["diagnosis"])

    analyzed = cli("analyze", run_dir, "--json")  # the run directory's traces folder, read whole
    assert analyzed.code == 0, analyzed.err
    analysis = json.loads(analyzed.out)["torch/traces"]
    assert analysis["tool"] == "kineto" and analysis["metrics"]["step.count"]["value"] == 6


def test_the_schedule_records_active_iterations_after_wait_and_warmup(tiny_plugin, cli, tmp_path):
    """Iterations 0 (run warmup) and 1 wait, 2 and 3 warm the profiler up, 4 and 5 are recorded,
    6 is measured but after `active`."""
    result = cli("run", "tiny", "--profiler", "torch", "--warmup", 1, "--iterations", 6, "--output", tmp_path,
                 "--json", "--set", "profiler_options.torch.wait=2", "--set", "profiler_options.torch.warmup=2",
                 "--set", "profiler_options.torch.active=2")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    trace = _trace(Path(document["run_dir"]))
    assert [e["name"] for e in _steps(trace)] == ["ProfilerStep#4", "ProfilerStep#5"]
    assert value(document, "torch", "iterations") == 2
    rows = {row["name"]: row for row in json.loads((Path(document["run_dir"]) / "torch" / "top_ops.json").read_text())}
    assert rows["aten::addmm"]["calls"] == 2 * 2


@pytest.mark.parametrize("setting, message", [
    ("profiler_options.torch.row_limit=0", "'row_limit': expected a positive integer"),
    ("profiler_options.torch.top_ops=-1", "'top_ops': expected a positive integer"),
    ("profiler_options.torch.wait=-1", "'wait': expected an integer >= 0 or null"),
    ("profiler_options.torch.wait=two", "'wait': expected an integer >= 0 or null"),
    ("profiler_options.torch.warmup=-1", "'warmup': expected an integer >= 0"),
    ("profiler_options.torch.active=0", "'active': expected a positive integer or null"),
    ("profiler_options.torch.wait=5", "nothing would be recorded"),  # 3 warmup + 1 iteration
])
def test_bad_options(tiny_plugin, cli, tmp_path, setting, message):
    result = cli("run", "tiny", "--profiler", "torch", "--iterations", 1, "--set", setting, "--output", tmp_path)
    assert result.code == 2 and message in result.err, result.err
    assert "\n" not in result.err.strip()


@pytest.mark.slow
def test_every_rank_of_a_two_process_run_writes_its_trace(tiny_plugin, cli, tmp_path):
    result = cli("run", "tiny", "--nproc-per-node", 2, "--profiler", "torch", "--warmup", 1, "--iterations", 2,
                 "--workers", 0, "--output", tmp_path, "--json")
    assert result.code == 0, result.err
    (run_dir,) = tmp_path.iterdir()  # rank 0 owns the run directory; rank 1 wrote its trace into it
    document = json.loads((run_dir / "run.json").read_text())
    assert document["status"] == "ok", document["error"]
    report = document["profilers"]["torch"]
    assert report["error"] is None
    assert {"torch/traces/rank0.pt.trace.json.gz", "torch/traces/rank1.pt.trace.json.gz"} <= set(report["artefacts"])
    for rank in (0, 1):
        trace = _trace(run_dir, rank)
        info = trace["distributedInfo"]  # torch's own, from the process group
        assert (info["rank"], info["world_size"], info["backend"]) == (rank, 2, "gloo")
        steps = _steps(trace)
        assert [e["name"] for e in steps] == ["ProfilerStep#1", "ProfilerStep#2"]
        assert all(any(e["name"] == "dnn_suite.backward" and _inside(e, s) for e in _annotations(trace))
                   for s in steps)
