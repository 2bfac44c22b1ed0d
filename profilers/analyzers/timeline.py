"""What nvprof and Nsight Systems timelines share: kernels and memory copies with a device and
a ``[start, end)`` in ns, a measured window, and the per-device numbers computed from them.

Counting rules, the same for both tools:

* GPU compute utilization of a device = length of the union of its kernel intervals clipped
  to the window / window length. Overlapping kernels (concurrent streams) count once.
* Kernel and memcpy counts, times and bytes cover the operations that *start* inside the
  window, with their full durations: each launch is counted once and in exactly one window.
* The window is the NVTX range the benchmark pushes around the measured iterations (every
  occurrence of it); without one, the capture span from the first kernel start to the last
  kernel end over all devices, so that all devices share one denominator.
* Devices are those that ran at least one kernel in the capture.

Besides these, both analyzers read the whole capture into the one timeline model
(:mod:`.gpu_time.sqlite_timeline`) and add the figures of :func:`.gpu_time.analyze_timelines`,
with the definitions they have for a kineto trace (HTA's temporal and idle breakdown over the
capture, TensorBoard's step breakdown over the ``ProfilerStep#N`` NVTX ranges, kernel categories,
launches, synchronizations, the diagnosis): see :func:`merge_gpu_time`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dnn_suite.metrics import Metric

from .base import Analysis, Row
from .errors import ProfilerToolError
from .gpu_time import analyze_timelines
from .gpu_time.model import Timeline
from .intervals import Window, merge, union_length_in_windows
from .sqlite import query, table_names

WINDOW_RANGE = "dnn_suite.window"
MEMCPY_TABLE = "CUPTI_ACTIVITY_KIND_MEMCPY"
# CUpti_ActivityMemcpyKind values; nvprof and nsys both store them in copyKind.
MEMCPY_KINDS = {1: "HtoD", 2: "DtoH", 8: "DtoD"}


@dataclass(frozen=True)
class StringTable:
    """Where a tool keeps the strings its activity tables refer to by id."""

    table: str
    id_column: str


@dataclass(frozen=True)
class Kernels:
    """Kernel rows as arrays; names stay ids into ``names`` (one string per distinct kernel)."""

    device: np.ndarray
    start: np.ndarray
    end: np.ndarray
    name_id: np.ndarray
    names: dict[int, str]


@dataclass(frozen=True)
class Memcpys:
    device: np.ndarray
    start: np.ndarray
    end: np.ndarray
    kind: np.ndarray
    nbytes: np.ndarray


def read_kernels(
    conn: sqlite3.Connection, path: Path, table: str, name_column: str, strings: StringTable, expected: str
) -> Kernels:
    rows = query(conn, path, f'SELECT deviceId, start, end, "{name_column}" FROM "{table}"', expected)
    names = query(
        conn,
        path,
        f'SELECT "{strings.id_column}", value FROM "{strings.table}" '
        f'WHERE "{strings.id_column}" IN (SELECT DISTINCT "{name_column}" FROM "{table}")',
        expected,
    )
    return Kernels(*(_ints(column) for column in _columns(rows, 4)), dict(names))


def read_memcpys(conn: sqlite3.Connection, path: Path, expected: str) -> Memcpys | None:
    """The copies, or None when the capture has no memcpy table (memcpy tracing was off)."""
    if MEMCPY_TABLE not in table_names(conn):
        return None
    rows = query(conn, path, f"SELECT deviceId, start, end, copyKind, bytes FROM {MEMCPY_TABLE}", expected)
    return Memcpys(*(_ints(column) for column in _columns(rows, 5)))


def analyze_timeline(
    tool: str,
    path: Path,
    kernels: Kernels,
    memcpys: Memcpys | None,
    ranges: list[Window],
    range_name: str,
    devices: Mapping[int, Row],
    top: int,
    timeline: Timeline | None = None,
) -> Analysis:
    """Per-device utilization, kernel and memcpy numbers; ``devices`` adds name/CC columns;
    with ``timeline``, the figures of :func:`.gpu_time.analyze_timelines` too."""
    if kernels.start.size == 0:
        raise ProfilerToolError(
            tool,
            path,
            "no CUDA kernels were recorded",
            "Check that the program ran GPU kernels between cudaProfilerStart and cudaProfilerStop "
            "(torch.cuda.profiler.start/stop)",
        )
    if ranges:
        source = f"NVTX range {range_name!r}"
    else:
        ranges = [(int(kernels.start.min()), int(kernels.end.max()))]
        source = "capture span (first kernel start to last kernel end)"
    merged_start, merged_end = merge([r[0] for r in ranges], [r[1] for r in ranges])
    window_length = int((merged_end - merged_start).sum())
    kernel_in_window = _starts_in(kernels.start, ranges)

    per_device: dict[int, dict[str, Metric]] = {}
    top_rows: list[Row] = []
    for device in (int(d) for d in np.unique(kernels.device)):
        on = kernels.device == device
        counted = on & kernel_in_window
        busy = union_length_in_windows(kernels.start[on], kernels.end[on], ranges)
        durations = (kernels.end - kernels.start)[counted]
        values = {
            "compute_utilization": Metric(
                100.0 * busy / window_length if window_length else None,
                "%",
                "union of kernel intervals inside the window / window length",
            ),
            "busy_time": Metric(busy, "ns", "union of kernel intervals inside the window"),
            "kernel_count": Metric(int(counted.sum()), "kernels", "kernels started inside the window"),
            "kernel_time": Metric(
                int(durations.sum()), "ns", "summed durations of the kernels started inside the window"
            ),
        }
        if memcpys is not None:
            values.update(_memcpy_metrics(memcpys, device, ranges))
        per_device[device] = values
        summary = kernel_summary(kernels.name_id[counted], durations, kernels.names, top)
        top_rows.extend({"device": device, **row} for row in summary)

    utilizations = [v["compute_utilization"].value for v in per_device.values()]
    metrics = {
        "window_length": Metric(window_length, "ns", source),
        "compute_utilization": Metric(
            None if None in utilizations else float(np.mean(utilizations)),
            "%",
            "GPU compute utilization, mean over devices",
        ),
        "kernel_count": Metric(
            sum(v["kernel_count"].value for v in per_device.values()), "kernels", "kernels started inside the window"
        ),
        "kernel_time": Metric(
            sum(v["kernel_time"].value for v in per_device.values()),
            "ns",
            "summed durations of the kernels started inside the window, all devices",
        ),
    }
    for device, values in per_device.items():
        metrics.update({f"gpu{device}.{key}": metric for key, metric in values.items()})
    analysis = Analysis(
        tool=tool,
        source=path,
        metrics=metrics,
        tables={
            "window": [{"start_ns": a, "end_ns": b, "length_ns": b - a, "source": source} for a, b in sorted(ranges)],
            "per_device": [
                {"device": device, **devices.get(device, {}), **{key: m.value for key, m in values.items()}}
                for device, values in per_device.items()
            ],
            "top_kernels": top_rows,
        },
    )
    if timeline is not None:
        timeline.devices.update({d: dict(row) for d, row in devices.items()})
        merge_gpu_time(analysis, timeline, top)
    return analysis


# gpu_time tables whose names this module's tables already use, and the names they get here
RENAMED_TABLES = {"top_kernels": "top_kernels_overall"}


def merge_gpu_time(analysis: Analysis, timeline: Timeline, top: int) -> None:
    """Add the figures of :func:`.gpu_time.analyze_timelines` on ``timeline`` to ``analysis``.

    Its metrics keep their names (none collides with this module's); its ``per_device`` columns
    join this module's rows of the same device (devices that ran kernels); its ``top_kernels``
    (all devices, HTA's operations, with category) becomes ``top_kernels_overall``, beside the
    per-device, in-window ``top_kernels`` of ``nsys stats``; the other tables, ``diagnosis``
    included, are added as they are."""
    extra = analyze_timelines([timeline], source=analysis.source, top=top)
    for key, metric in extra.metrics.items():
        analysis.metrics.setdefault(key, metric)
    for name, rows in extra.tables.items():
        if name == "per_device":
            by_device = {row["device"]: row for row in analysis.tables.get("per_device", [])}
            for row in rows:
                existing = by_device.get(row["device"])
                if existing is not None:
                    existing.update({k: v for k, v in row.items() if k not in existing})
            continue
        analysis.tables[RENAMED_TABLES.get(name, name)] = rows
    analysis.warnings.extend(extra.warnings)


def kernel_summary(name_ids: np.ndarray, durations: np.ndarray, names: Mapping[int, str], top: int) -> list[Row]:
    """Per kernel name, the columns of ``nsys stats -r cuda_gpu_kern_sum``, by total time."""
    if durations.size == 0:
        return []
    unique, inverse = np.unique(name_ids, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    groups = np.split(durations[order], np.cumsum(np.bincount(inverse))[:-1])
    grand_total = int(durations.sum())
    rows = [
        {
            "time_pct": 100.0 * int(d.sum()) / grand_total if grand_total else None,
            "total_ns": int(d.sum()),
            "instances": int(d.size),
            "avg_ns": float(d.mean()),
            "med_ns": float(np.median(d)),
            "min_ns": int(d.min()),
            "max_ns": int(d.max()),
            "stddev_ns": float(d.std(ddof=1)) if d.size > 1 else 0.0,
            "name": names.get(int(name_id), "<unnamed>"),
        }
        for name_id, d in zip(unique, groups, strict=True)
    ]
    rows.sort(key=lambda row: row["total_ns"], reverse=True)
    return rows[:top]


def _memcpy_metrics(memcpys: Memcpys, device: int, ranges: list[Window]) -> dict[str, Metric]:
    counted = (memcpys.device == device) & _starts_in(memcpys.start, ranges)
    values: dict[str, Metric] = {}
    for kind, label in MEMCPY_KINDS.items():
        selected = counted & (memcpys.kind == kind)
        what = f"{label} copies started inside the window"
        values[f"memcpy_{label.lower()}_time"] = Metric(
            int((memcpys.end - memcpys.start)[selected].sum()), "ns", f"summed durations of {what}"
        )
        values[f"memcpy_{label.lower()}_bytes"] = Metric(int(memcpys.nbytes[selected].sum()), "B", f"bytes of {what}")
    return values


def _starts_in(starts: np.ndarray, ranges: list[Window]) -> np.ndarray:
    inside = np.zeros(starts.shape, dtype=bool)
    for a, b in ranges:
        inside |= (starts >= a) & (starts < b)
    return inside


def _columns(rows: list[tuple], width: int) -> list[tuple]:
    return list(zip(*rows, strict=True)) if rows else [()] * width


def _ints(values: tuple) -> np.ndarray:
    return np.array(values, dtype=np.int64)
