"""``cpu``: process CPU utilization (overall and per core) and RSS during the window.

Works everywhere (psutil). Per-core numbers are the machine's, since a process's time is
not split by core; the process figure is its CPU time over wall time, so 200% means two
cores busy.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import psutil

from dnn_suite.atomic import write_csv_atomic
from dnn_suite.context import RunContext
from dnn_suite.hookspecs import hookimpl
from dnn_suite.metrics import Metric
from dnn_suite.options import Option
from dnn_suite.registry import ProfilerSpec
from dnn_suite.value_types import Integer
from dnn_suite_profilers.sampling import Sampler

NAME = "cpu"


@hookimpl
def dnn_suite_register_profilers(register):
    register(ProfilerSpec(
        name=NAME,
        description="process CPU utilization and RSS, sampled during the window",
        measures=("process CPU %", "per-core CPU %", "RSS"),
        options=(Option("interval_ms", 100, "sampling interval in milliseconds", Integer(minimum=1)),),
    ))


def _sampler(run: RunContext) -> Sampler:
    """Each row's CPU figures cover the time since the previous row; the first row, taken as
    the window starts, has no such interval and carries the RSS only. The process figure is
    from ``time.process_time`` (nanoseconds, all threads of this process): psutil's reads
    whole 10 ms ticks, so over the few milliseconds between priming and the first sample, or
    before a window's last sample, one tick read as several hundred percent."""
    process = psutil.Process()
    psutil.cpu_percent(None, percpu=True)  # primes the machine-wide counters
    last: dict[str, float] = {}

    def sample(elapsed: float) -> list[dict[str, Any]]:
        cpu_time, cores = time.process_time(), psutil.cpu_percent(None, percpu=True)
        row: dict[str, Any] = {"timestamp_s": elapsed, "interval_s": None, "process_cpu_pct": None,
                               "rss_bytes": process.memory_info().rss}
        measured = bool(last) and elapsed > last["elapsed"]
        if measured:
            row["interval_s"] = elapsed - last["elapsed"]
            row["process_cpu_pct"] = 100.0 * (cpu_time - last["cpu_time"]) / row["interval_s"]
        row |= {f"core{index}_pct": value if measured else None for index, value in enumerate(cores)}
        last.update(elapsed=elapsed, cpu_time=cpu_time)
        return [row]

    return Sampler(sample, run.profiler_options(NAME)["interval_ms"] / 1000.0)


@hookimpl(wrapper=True)
def dnn_suite_measured_window(run: RunContext, window: int):
    sampler = _sampler(run)
    sampler.start()
    try:
        return (yield)
    finally:
        sampler.stop()
        run.state.setdefault(NAME, []).append(sampler)


@hookimpl
def dnn_suite_profiler_report(run: RunContext):
    samplers: list[Sampler] = run.state.get(NAME, [])
    rows = [dict(row, window=w) for w, s in enumerate(samplers) for row in s.rows]
    if not rows:
        return NAME, {}
    core_columns = sorted((k for k in rows[0] if k.startswith("core")), key=lambda k: int(k[4:-4]))
    header = ["window", "timestamp_s", "interval_s", "process_cpu_pct", "rss_bytes", *core_columns]
    write_csv_atomic(run.profiler_dir(NAME) / "samples.csv", header, ([row.get(k) for k in header] for row in rows))
    metrics = {"rss_peak": Metric(int(max(row["rss_bytes"] for row in rows)), "bytes"),
               "samples": Metric(len(rows), "count")}
    measured = [row for row in rows if row["interval_s"]]
    if not measured:
        return NAME, metrics
    # Means weighted by each row's interval: a window's last one is usually short.
    weights = np.array([row["interval_s"] for row in measured])
    process = np.array([row["process_cpu_pct"] for row in measured])
    cores = np.array([[row[k] for k in core_columns] for row in measured])
    mean = float(np.average(process, weights=weights))
    metrics = {
        "process_cpu_mean": Metric(mean, "%", "process CPU time / wall time (100% = one core)"),
        "process_cpu_p95": Metric(float(np.percentile(process, 95)), "%"),
        "cores_busy_mean": Metric(mean / 100.0, "cores"),
        **metrics,
    }
    for index, value in enumerate(np.average(cores, axis=0, weights=weights)):
        metrics[f"core{index}_mean"] = Metric(float(value), "%", "machine-wide utilization of this core")
    return NAME, metrics
