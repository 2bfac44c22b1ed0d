"""Run directories, atomic file writes, statistics and the summary table.

Nothing written before is ever lost: each run gets a new directory (created exclusively,
with a numeric suffix if the name is taken) and every file is written to a temporary name
in the same folder, flushed, then renamed over its final name.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from dnn_suite.errors import UsageError
from dnn_suite.metrics import readable

if TYPE_CHECKING:  # the run's records; importing them at run time would import torch
    from dnn_suite.context import IterationRecord, WindowResult

SCHEMA_VERSION = 1


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    data = text.encode("utf-8") if isinstance(text, str) else text
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _json_default(value: Any) -> Any:
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def _finite(value: Any) -> Any:
    """JSON has no NaN/inf: store them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def to_json_text(data: Any) -> str:
    return json.dumps(_finite(json.loads(json.dumps(data, default=_json_default))), indent=2) + "\n"


def write_json_atomic(path: Path, data: Any) -> None:
    write_atomic(path, to_json_text(data))


def write_csv_atomic(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    write_atomic(path, buffer.getvalue())


def new_run_dir(output: str | Path, name: str) -> Path:
    """Create a fresh directory ``output/<timestamp>_<name>`` (suffixed if it exists).

    An unusable output (a file, a read-only or full file system, no permission) is a
    :class:`UsageError` here, before anything runs: the new directory must take a file of
    :data:`PROBE_BYTES`, which is tried and removed.
    """
    root = Path(output)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except FileExistsError as e:
        raise UsageError(f"output directory {root}: is a file; expected a directory (created if missing)") from e
    except OSError as e:
        raise UsageError(f"output directory {root}: cannot create it ({e.strerror}); "
                         "expected a directory that exists or can be created") from e
    base = f"{time.strftime('%Y%m%d-%H%M%S')}_{name}"
    for attempt in range(1, 1000):
        candidate = root / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        except OSError as e:
            raise UsageError(f"output directory {root}: cannot create a run directory in it ({e.strerror}); "
                             "expected a writable directory") from e
        try:
            check_writable(candidate, f"output directory {root}")
        except UsageError:
            candidate.rmdir()
            raise
        return candidate
    raise UsageError(f"output directory {root}: 999 run directories named {base} already exist; expected fewer")


PROBE_BYTES = 64 * 1024
"""What a folder must take before a run writes in it: more than run.json and the CSVs of a short run."""


def check_writable(folder: Path, what: str) -> None:
    """Raise :class:`UsageError` unless a file of :data:`PROBE_BYTES` can be written (and
    flushed to disk) in ``folder``. Trying is the only test that holds for root, for whom
    permission bits do not apply but read-only mounts, immutable folders and full disks do."""
    probe = folder / f".dnn-suite-probe.{os.getpid()}"
    try:
        with open(probe, "wb") as handle:
            handle.write(bytes(PROBE_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as e:
        raise UsageError(f"{what}: cannot write in {folder} ({e.strerror}); "
                         "expected a writable directory with free space") from e
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


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
        [r.window, r.iteration, f"{r.data_wait_s:.9f}", f"{r.step_s:.9f}", r.samples, r.loss]
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
    losses = [r.loss for r in records]
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


def format_summary(run: dict[str, Any], run_dir: Path | None) -> str:
    """The short table printed at the end of a run."""
    config, metrics = run["config"], run.get("metrics") or {}
    rows: list[tuple[str, str]] = [
        ("model", f"{config['model']} {config['variant']} (dataset {config['dataset']})"),
        ("device", f"{run.get('device', config['device'])}, batch size {config['batch_size']}"),
        ("status", run["status"] + (f": {run['error']}" if run.get("error") else "")),
    ]
    world = metrics.get("distributed")
    if world:
        rows.append(("processes", f"{world['world_size']} ({world['backend']}), global batch size "
                                  f"{config['batch_size'] * world['world_size']}"))
    throughput = (metrics.get("throughput") or {}).get("value")
    if throughput is not None:
        rows.append(("throughput", f"{throughput:.2f} samples/s over {metrics['iterations']} iterations "
                                   f"({metrics['window_time_s']:.2f} s)"))
        step = metrics["step_time_s"]
        rows.append(("step time", f"mean {step['mean'] * 1e3:.1f} ms, median {step['median'] * 1e3:.1f} ms, "
                                  f"p90 {step['p90'] * 1e3:.1f} ms, CV {(step['cv'] or 0) * 100:.1f}%"))
        rows.append(("data loading", f"{(metrics['data_loading_share'] or 0) * 100:.1f}% of iteration time"))
        spread = metrics.get("throughput_spread")
        if spread:
            rows.append(("repeats", f"{len(metrics['windows'])} windows, throughput min {spread['min']:.2f} "
                                    f"max {spread['max']:.2f} CV {(spread['cv'] or 0) * 100:.1f}%"))
    memory = metrics.get("memory") or {}
    if memory.get("max_rss_bytes"):
        text = f"max RSS {readable(memory['max_rss_bytes'], 'bytes')}"
        if memory.get("cuda_max_allocated_bytes") is not None:
            text += (f", CUDA allocated {readable(memory['cuda_max_allocated_bytes'], 'bytes')}"
                     f" / reserved {readable(memory['cuda_max_reserved_bytes'], 'bytes')}")
        rows.append(("peak memory", text))
    for name, report in (run.get("profilers") or {}).items():
        if report.get("error"):
            rows.append((name, f"error: {report['error']}"))
            continue
        metrics_shown = {k: v for k, v in (report.get("metrics") or {}).items() if not k.startswith("warning.")}
        shown = list(metrics_shown.items())[:4]
        rows.append((name, "; ".join(f"{k} {_format_value(v)}" for k, v in shown) or "no metrics"))
        rows += [(name, f"warning: {v.get('description', k)}") for k, v in (report.get("metrics") or {}).items()
                 if k.startswith("warning.")]
    if run.get("evaluation"):
        shown = [(k, v) for k, v in run["evaluation"].items() if isinstance(v, (int, float))][:4]
        rows.append(("evaluation", ", ".join(f"{k} {v:.4f}" for k, v in shown)))
    if run_dir is not None:
        rows.append(("results", str(run_dir)))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label.ljust(width)}  {value}" for label, value in rows)


def _format_value(metric: dict[str, Any]) -> str:
    return readable(metric.get("value"), metric.get("unit", ""))
