"""nvprof ``.nvvp`` profiles (SQLite): GPU compute utilization per device.

nvprof records NVTX ranges in ``CUPTI_ACTIVITY_KIND_MARKER`` as two rows sharing an ``id``:
the start (``flags`` = 2, carrying the ``name`` as a ``StringTable`` id) and the end
(``flags`` = 4).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from .base import Analysis
from .errors import InvalidProfileFile, ProfilerToolError
from .intervals import Window
from .gpu_time.sqlite_timeline import read_nvprof_timeline
from .sqlite import open_sqlite, query, table_names
from .timeline import WINDOW_RANGE, StringTable, analyze_timeline, read_kernels, read_memcpys

EXPECTED = "an nvprof profile (.nvvp SQLite file from nvprof --export-profile)"
KERNEL_TABLES = ("CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL", "CUPTI_ACTIVITY_KIND_KERNEL")
MARKER_TABLE = "CUPTI_ACTIVITY_KIND_MARKER"
STRINGS = StringTable("StringTable", "_id_")
MARKER_START, MARKER_END = 2, 4
UNSUPPORTED_DEVICE = "nvprof is not supported on devices with compute capability"


def analyze_nvprof(path: Path, window_range: str = WINDOW_RANGE, top: int = 20) -> Analysis:
    """Analyze an ``.nvvp`` file; ``window_range`` names the NVTX range of the measured window."""
    with closing(open_sqlite(path, EXPECTED)) as conn:
        tables = table_names(conn)
        kernel_table = next((t for t in KERNEL_TABLES if t in tables), None)
        if kernel_table is None or STRINGS.table not in tables:
            raise InvalidProfileFile(path, f"no {' or '.join(KERNEL_TABLES)} table with a StringTable", EXPECTED)
        kernels = read_kernels(conn, path, kernel_table, "name", STRINGS, EXPECTED)
        ranges = _marker_ranges(conn, path, window_range) if MARKER_TABLE in tables else []
        memcpys = read_memcpys(conn, path, EXPECTED)
        timeline = read_nvprof_timeline(conn, path, kernel_table, EXPECTED)
    return analyze_timeline("nvprof", path, kernels, memcpys, ranges, window_range, {}, top, timeline)


def check_nvprof_output(text: str, source: Path) -> None:
    """Raise if nvprof's console output says it could not profile this GPU at all."""
    if UNSUPPORTED_DEVICE in text:
        raise ProfilerToolError(
            "nvprof",
            source,
            "nvprof does not support GPUs of compute capability 8.0 and higher",
            "Use the nsys profiler for GPU compute utilization on this GPU",
        )


def _marker_ranges(conn: sqlite3.Connection, path: Path, name: str) -> list[Window]:
    rows = query(
        conn,
        path,
        f"SELECT b.timestamp, e.timestamp FROM {MARKER_TABLE} AS b "
        f"JOIN {MARKER_TABLE} AS e ON e.id = b.id AND e.flags = {MARKER_END} "
        f"JOIN {STRINGS.table} AS s ON s._id_ = b.name "
        f"WHERE b.flags = {MARKER_START} AND s.value = ?",
        EXPECTED,
        (name,),
    )
    return [(int(start), int(end)) for start, end in rows]
