"""``torch``: torch.profiler over the measured windows: a Chrome trace and the top operators.

The profiler starts before the first measured window and stops after the last one (one span;
each window is marked by a ``dnn_suite.window`` record in the trace), recording CPU activity
and, on a CUDA run, CUDA kernels. Per-iteration scheduling (``prof.step()``) would need a
per-iteration hook, which the plugin contract does not have; the windows are short enough to
profile whole. Profiling slows the training down, so the run's throughput is lower than
without it.

Artefacts in ``RUN/torch/``: ``trace.json`` (open in chrome://tracing or Perfetto),
``top_ops.txt`` (torch's own table) and ``top_ops.json`` (the same rows as data). Metrics: the
totals and, for the ``top_ops`` operators with the most self time (CUDA time on a CUDA run,
else CPU), ``op.<name>.calls``, ``op.<name>.self_cpu_time``, ``op.<name>.cpu_total`` and on
CUDA ``op.<name>.cuda_time`` (microseconds).
"""

from __future__ import annotations

import os
from typing import Any

from torch.profiler import ProfilerActivity, profile, record_function

from dnn_suite.context import RunContext
from dnn_suite.errors import UsageError
from dnn_suite.hookspecs import hookimpl
from dnn_suite.metrics import Metric
from dnn_suite.registry import ProfilerSpec
from dnn_suite.results import write_atomic, write_json_atomic

NAME = "torch"
WINDOW_RECORD = "dnn_suite.window"
KINETO_LOG_LEVEL = "KINETO_LOG_LEVEL"
KINETO_SILENT = "6"  # above kineto's highest level (USDT = 5): no log lines at all


@hookimpl
def dnn_suite_register_profilers(register):
    register(ProfilerSpec(
        name=NAME,
        description="torch.profiler over the window: Chrome trace and top operators (CPU, and CUDA when used)",
        measures=("operator self/total CPU time", "operator CUDA time", "calls", "Chrome trace"),
        options={"record_shapes": False, "with_stack": False, "profile_memory": False, "row_limit": 25,
                 "top_ops": 5},
        option_help={
            "record_shapes": "record input shapes of the operators",
            "with_stack": "record Python stacks (larger trace, more overhead)",
            "profile_memory": "record tensor memory allocations",
            "row_limit": "rows of top_ops.txt / top_ops.json",
            "top_ops": "operators listed in the metrics",
        },
    ))


def _on_cuda(run: RunContext) -> bool:
    return run.device.type == "cuda"


@hookimpl
def dnn_suite_profiler_preflight(run: RunContext):
    options = run.profiler_options(NAME)
    for key in ("row_limit", "top_ops"):
        if options[key] <= 0:
            raise UsageError(f"profiler torch option {key!r}: expected a positive integer, got {options[key]!r}")


def _start(run: RunContext) -> profile:
    """Start profiling. Without CUDA, kineto (torch's profiling library) would still print
    its trace markers and ``ERROR ... gpuGetDeviceCount failed`` on a CUDA build of torch: it is
    silenced before its first use, where it reads its log level. On a CUDA run its messages can
    matter (CUPTI permissions) and are kept; an explicit KINETO_LOG_LEVEL always wins."""
    options = run.profiler_options(NAME)
    if not _on_cuda(run):
        os.environ.setdefault(KINETO_LOG_LEVEL, KINETO_SILENT)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if _on_cuda(run) else [])
    profiler = profile(activities=activities, record_shapes=options["record_shapes"],
                       with_stack=options["with_stack"], profile_memory=options["profile_memory"])
    profiler.start()
    return profiler


def _stop(state: dict[str, Any]) -> None:
    if state.get("running"):
        state["running"] = False
        state["profiler"].stop()


@hookimpl(wrapper=True)
def dnn_suite_training_loop(run: RunContext):
    state = run.state.setdefault(NAME, {})
    try:
        return (yield)
    finally:
        _stop(state)


@hookimpl(wrapper=True)
def dnn_suite_measured_window(run: RunContext, window: int):
    state = run.state.setdefault(NAME, {})
    if "profiler" not in state:
        state["profiler"] = _start(run)
        state["running"] = True
    with record_function(WINDOW_RECORD):
        result = yield
    if window >= run.config.repeat - 1:
        _stop(state)
    return result


def _row(event: Any, cuda: bool) -> dict[str, Any]:
    row = {
        "name": event.key,
        "calls": int(event.count),
        "self_cpu_time_us": float(event.self_cpu_time_total),
        "cpu_total_us": float(event.cpu_time_total),
    }
    if cuda:
        row["self_cuda_time_us"] = float(event.self_device_time_total)
        row["cuda_total_us"] = float(event.device_time_total)
    return row


@hookimpl
def dnn_suite_profiler_report(run: RunContext):
    state = run.state.get(NAME, {})
    profiler = state.get("profiler")
    if profiler is None:
        return NAME, {}
    _stop(state)
    options = run.profiler_options(NAME)
    cuda = _on_cuda(run)
    folder = run.profiler_dir(NAME)
    tmp = folder / f".trace.json.{os.getpid()}.tmp"
    try:
        profiler.export_chrome_trace(str(tmp))
        os.replace(tmp, folder / "trace.json")
    finally:
        tmp.unlink(missing_ok=True)
    events = profiler.key_averages()
    sort_by = "self_device_time_total" if cuda else "self_cpu_time_total"
    write_atomic(folder / "top_ops.txt", events.table(sort_by=sort_by, row_limit=options["row_limit"]) + "\n")
    rows = sorted((_row(e, cuda) for e in events if e.key != WINDOW_RECORD),
                  key=lambda r: r["self_cuda_time_us" if cuda else "self_cpu_time_us"], reverse=True)
    write_json_atomic(folder / "top_ops.json", rows[: options["row_limit"]])

    metrics = {
        "self_cpu_time_total": Metric(sum(r["self_cpu_time_us"] for r in rows), "us",
                                      "self CPU time of all operators in the windows"),
        "operators": Metric(len(rows), "operators", "distinct operators recorded"),
        "calls": Metric(sum(r["calls"] for r in rows), "calls", "operator calls recorded"),
    }
    if cuda:
        metrics["self_cuda_time_total"] = Metric(sum(r["self_cuda_time_us"] for r in rows), "us",
                                                 "self CUDA time of all operators in the windows")
    for rank, row in enumerate(rows[: options["top_ops"]], 1):
        key = f"op.{row['name']}"
        metrics[f"{key}.self_cpu_time"] = Metric(row["self_cpu_time_us"], "us", f"rank {rank} by self time")
        metrics[f"{key}.cpu_total"] = Metric(row["cpu_total_us"], "us", "CPU time including children")
        metrics[f"{key}.calls"] = Metric(row["calls"], "calls")
        if cuda:
            metrics[f"{key}.cuda_time"] = Metric(row["self_cuda_time_us"], "us", "self CUDA time")
    return NAME, metrics
