"""The measured windows' statistics for run.json (throughput, step and data-wait times, their
spread) and the iteration log they are computed from (iterations.csv)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from dnn_suite.atomic import write_csv_atomic

if TYPE_CHECKING:  # the run's records; importing them at run time would import torch
    from dnn_suite.context import IterationRecord, WindowResult


def summarize(values: Sequence[float]) -> dict[str, float | None]:
    """mean, median, p90, p99, stdev (sample), CV, min, max of ``values``."""
    if len(values) == 0:
        return {k: None for k in ("mean", "median", "p90", "p99", "stdev", "cv", "min", "max")}
    array = np.asarray(values, dtype=np.float64)
    mean = float(array.mean())
    stdev = float(array.std(ddof=1)) if len(array) > 1 else 0.0
    return {
        "mean": mean,
        "median": float(np.median(array)),
        "p90": float(np.percentile(array, 90)),
        "p99": float(np.percentile(array, 99)),
        "stdev": stdev,
        "cv": stdev / mean if mean > 0 else None,
        "min": float(array.min()),
        "max": float(array.max()),
    }


ITERATION_COLUMNS = ("window", "iteration", "data_wait_s", "step_s", "samples", "loss")


def write_iterations(path: Path, records: list[IterationRecord], *, ranks: bool = False) -> None:
    """One row per iteration; with ``ranks`` (a multi-process run) a last column says whose."""
    components = sorted({key for record in records for key in record.components})
    rows = (
        [r.window, r.iteration, f"{r.data_wait_s:.9f}", f"{r.step_s:.9f}", r.samples,
         "" if r.loss is None else r.loss]
        + [r.components.get(key, "") for key in components] + ([r.rank] if ranks else [])
        for r in records
    )
    write_csv_atomic(path, [*ITERATION_COLUMNS, *components, *(["rank"] if ranks else [])], rows)


def window_metrics(windows: list[WindowResult]) -> dict[str, Any]:
    """Throughput and timing statistics over the measured windows."""
    records = [r for w in windows for r in w.iterations]
    samples = sum(w.samples for w in windows)
    wall = sum(w.wall_s for w in windows)
    step_times = [r.step_s for r in records]
    data_times = [r.data_wait_s for r in records]
    busy = sum(step_times) + sum(data_times)
    throughputs = [w.throughput for w in windows if w.wall_s > 0]
    losses = [r.loss for r in records if r.loss is not None]
    return {
        "throughput": {"value": samples / wall if wall > 0 else None, "unit": "samples/s"},
        "samples": samples,
        "iterations": len({(r.window, r.iteration) for r in records}),  # steps, however many processes
        "window_time_s": wall,
        "step_time_s": summarize(step_times),
        "data_wait_s": summarize(data_times),
        "data_loading_share": sum(data_times) / busy if busy > 0 else None,
        "loss": {"first": losses[0], "last": losses[-1], "mean": float(np.mean(losses))} if losses else None,
        "windows": [
            {"index": w.index, "samples": w.samples, "iterations": len(w.iterations), "wall_s": w.wall_s,
             "throughput": w.throughput, "interrupted": w.interrupted}
            for w in windows
        ],
        "throughput_spread": summarize(throughputs) if len(throughputs) > 1 else None,
    }
