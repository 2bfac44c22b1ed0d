"""``cpu``: process CPU utilization (overall and per core) and RSS during the window.

Works everywhere (psutil). Per-core numbers are the machine's, since a process's time is
not split by core; the process figure is its CPU time over wall time, so 200% means two
cores busy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import psutil

from dnn_suite.context import RunContext
from dnn_suite.hookspecs import hookimpl
from dnn_suite.metrics import Metric
from dnn_suite.registry import ProfilerSpec
from dnn_suite.results import write_csv_atomic
from dnn_suite_profilers.sampling import Sampler

NAME = "cpu"


@hookimpl
def dnn_suite_register_profilers(register):
    register(ProfilerSpec(
        name=NAME,
        description="process CPU utilization and RSS, sampled during the window",
        measures=("process CPU %", "per-core CPU %", "RSS"),
        options={"interval_ms": 100},
        option_help={"interval_ms": "sampling interval in milliseconds"},
    ))


def _sampler(run: RunContext) -> Sampler:
    process = psutil.Process()
    process.cpu_percent(None)  # first call primes the counters
    psutil.cpu_percent(None, percpu=True)

    def sample(elapsed: float) -> list[dict[str, Any]]:
        memory = process.memory_info()
        row = {"timestamp_s": elapsed, "process_cpu_pct": process.cpu_percent(None), "rss_bytes": memory.rss}
        for index, value in enumerate(psutil.cpu_percent(None, percpu=True)):
            row[f"core{index}_pct"] = value
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
    header = ["window", "timestamp_s", "process_cpu_pct", "rss_bytes"] + sorted(
        (k for k in rows[0] if k.startswith("core")), key=lambda k: int(k[4:-4]))
    write_csv_atomic(run.profiler_dir(NAME) / "samples.csv", header, ([row.get(k) for k in header] for row in rows))
    # The first row of each window is primed at the window's start and reads 0: skip it.
    busy = [row for s in samplers for row in list(s.rows)[1:]] or rows
    process = np.array([row["process_cpu_pct"] for row in busy])
    cores = np.array([[row[k] for k in header[4:]] for row in busy])
    metrics = {
        "process_cpu_mean": Metric(float(process.mean()), "%", "process CPU time / wall time (100% = one core)"),
        "process_cpu_p95": Metric(float(np.percentile(process, 95)), "%"),
        "cores_busy_mean": Metric(float(process.mean() / 100.0), "cores"),
        "rss_peak": Metric(int(max(row["rss_bytes"] for row in rows)), "bytes"),
        "samples": Metric(len(rows), "count"),
    }
    for index, value in enumerate(cores.mean(axis=0)):
        metrics[f"core{index}_mean"] = Metric(float(value), "%", "machine-wide utilization of this core")
    return NAME, metrics
