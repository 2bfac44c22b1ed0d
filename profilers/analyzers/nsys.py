"""Nsight Systems: the SQLite export of a report, and the CSV ``nsys stats`` writes.

In the export, kernel and memcpy rows carry the CUDA device id (``deviceId``); NVTX ranges
are ``NVTX_EVENTS`` rows of ``eventType`` 59 (push/pop) or 60 (start/end) whose text is in
``text`` or, for registered strings, in ``StringIds`` via ``textId``.
"""

from __future__ import annotations

import csv
import sqlite3
from contextlib import closing
from pathlib import Path

from dnn_suite.metrics import Metric

from .base import Analysis, Row
from .errors import InvalidProfileFile
from .intervals import Window
from .gpu_time.sqlite_timeline import read_nsys_timeline
from .sqlite import column_names, open_sqlite, query, table_names
from .textfile import parse_number, read_lines
from .timeline import WINDOW_RANGE, StringTable, analyze_timeline, read_kernels, read_memcpys

EXPECTED = "an Nsight Systems SQLite export (nsys export --type sqlite, or nsys profile --export=sqlite)"
KERNEL_TABLE = "CUPTI_ACTIVITY_KIND_KERNEL"
NVTX_TABLE = "NVTX_EVENTS"
STRINGS = StringTable("StringIds", "id")
NVTX_RANGE_EVENT_TYPES = (59, 60)
KERN_SUM_HEADER = [
    "Time (%)",
    "Total Time (ns)",
    "Instances",
    "Avg (ns)",
    "Med (ns)",
    "Min (ns)",
    "Max (ns)",
    "StdDev (ns)",
    "Name",
]
KERN_SUM_EXPECTED = "the CSV of nsys stats -r cuda_gpu_kern_sum, header " + ",".join(KERN_SUM_HEADER)
# KERN_SUM_HEADER column -> (top_kernels key, integer column?)
_KERN_SUM_KEYS = {
    "Time (%)": ("time_pct", False),
    "Total Time (ns)": ("total_ns", True),
    "Instances": ("instances", True),
    "Avg (ns)": ("avg_ns", False),
    "Med (ns)": ("med_ns", False),
    "Min (ns)": ("min_ns", True),
    "Max (ns)": ("max_ns", True),
    "StdDev (ns)": ("stddev_ns", False),
}


def analyze_nsys(path: Path, window_range: str = WINDOW_RANGE, top: int = 20) -> Analysis:
    """Analyze an nsys SQLite export; ``window_range`` names the NVTX range of the measured window."""
    with closing(open_sqlite(path, EXPECTED)) as conn:
        tables = table_names(conn)
        if KERNEL_TABLE not in tables or STRINGS.table not in tables:
            raise InvalidProfileFile(
                path, f"no {KERNEL_TABLE} table with StringIds (was CUDA tracing on: nsys profile -t cuda?)", EXPECTED
            )
        kernels = read_kernels(conn, path, KERNEL_TABLE, "demangledName", STRINGS, EXPECTED)
        ranges = _nvtx_ranges(conn, path, window_range) if NVTX_TABLE in tables else []
        memcpys = read_memcpys(conn, path, EXPECTED)
        timeline = read_nsys_timeline(conn, path, KERNEL_TABLE, EXPECTED)
        devices = _device_info(conn, path, tables)
    return analyze_timeline("nsys", path, kernels, memcpys, ranges, window_range, devices, top, timeline)


def analyze_nsys_kern_sum(path: Path) -> Analysis:
    """Read the ``*_cuda_gpu_kern_sum.csv`` of ``nsys stats`` (all kernels of the report)."""
    lines = read_lines(path, KERN_SUM_EXPECTED)
    start = next((i for i, line in enumerate(lines) if is_kern_sum_header(line)), None)
    if start is None:
        raise InvalidProfileFile(path, "no kernel summary header line", KERN_SUM_EXPECTED)
    rows: list[Row] = []
    for lineno, fields in enumerate(csv.reader(lines[start + 1 :]), start + 2):
        if not fields:
            continue
        if len(fields) != len(KERN_SUM_HEADER):
            raise InvalidProfileFile(
                path, f"line {lineno} has {len(fields)} fields, not {len(KERN_SUM_HEADER)}", KERN_SUM_EXPECTED
            )
        row: Row = {}
        for column, text in zip(KERN_SUM_HEADER, fields, strict=True):
            if column == "Name":
                row["name"] = text
                continue
            key, integer = _KERN_SUM_KEYS[column]
            value = parse_number(text)
            if value is None:
                raise InvalidProfileFile(path, f"line {lineno}: {column} is {text!r}, not a number", KERN_SUM_EXPECTED)
            row[key] = int(value) if integer else value
        rows.append(row)
    metrics = {
        "kernel_count": Metric(sum(r["instances"] for r in rows), "kernels", "kernel launches in the report"),
        "kernel_time": Metric(sum(r["total_ns"] for r in rows), "ns", "summed kernel durations in the report"),
        "kernel_names": Metric(len(rows), "names", "distinct kernel names"),
    }
    return Analysis("nsys", path, metrics, {"top_kernels": rows})


def is_kern_sum_header(line: str) -> bool:
    return next(csv.reader([line]), []) == KERN_SUM_HEADER


def _nvtx_ranges(conn: sqlite3.Connection, path: Path, name: str) -> list[Window]:
    has_text_id = "textId" in column_names(conn, NVTX_TABLE)
    text = "COALESCE(e.text, s.value)" if has_text_id else "e.text"
    join = f"LEFT JOIN {STRINGS.table} AS s ON s.id = e.textId " if has_text_id else ""
    rows = query(
        conn,
        path,
        f"SELECT e.start, e.end FROM {NVTX_TABLE} AS e {join}"
        f"WHERE e.eventType IN {NVTX_RANGE_EVENT_TYPES} AND e.end IS NOT NULL AND {text} = ?",
        EXPECTED,
        (name,),
    )
    return [(int(start), int(end)) for start, end in rows]


def _device_info(conn: sqlite3.Connection, path: Path, tables: set[str]) -> dict[int, Row]:
    """Name and compute capability per CUDA device id, from ``TARGET_INFO_GPU``.

    ``TARGET_INFO_GPU.id`` numbers GPUs as nsys sees them; ``TARGET_INFO_CUDA_DEVICE`` maps
    CUDA device ids (``cudaId``, what kernel rows carry) to them (``gpuId``); without it the two
    numberings are taken to agree.
    """
    if "TARGET_INFO_GPU" not in tables:
        return {}
    has_cc = {"computeMajor", "computeMinor"} <= column_names(conn, "TARGET_INFO_GPU")
    select = "id, name, computeMajor, computeMinor" if has_cc else "id, name, NULL, NULL"
    gpus = {
        int(gpu): {"name": name, **({"compute_capability": f"{major}.{minor}"} if major is not None else {})}
        for gpu, name, major, minor in query(conn, path, f"SELECT {select} FROM TARGET_INFO_GPU", EXPECTED)
    }
    if "TARGET_INFO_CUDA_DEVICE" not in tables:
        return gpus
    pairs = query(conn, path, "SELECT DISTINCT cudaId, gpuId FROM TARGET_INFO_CUDA_DEVICE", EXPECTED)
    return {int(cuda): gpus[int(gpu)] for cuda, gpu in pairs if int(gpu) in gpus} if pairs else gpus
