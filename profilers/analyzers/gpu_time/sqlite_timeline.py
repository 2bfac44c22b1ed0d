"""Nsight Systems SQLite exports and nvprof ``.nvvp`` files read into the one timeline model.

Both tools store CUPTI activity records in tables named after their kind, times in integer
nanoseconds on one clock (used as they are). What becomes what:

=======================================  ==========================================================
table                                    timeline rows
=======================================  ==========================================================
``CUPTI_ACTIVITY_KIND_KERNEL`` /         KERNEL (deviceId, streamId, start, end, correlationId;
``..._CONCURRENT_KERNEL``                name: nsys ``demangledName``, nvprof ``name``)
``CUPTI_ACTIVITY_KIND_MEMCPY``           MEMCPY named ``Memcpy HtoD``/``DtoH``/``DtoD``/``HtoH``/
                                         ``PtoP``... from ``copyKind``, with its ``bytes``
``CUPTI_ACTIVITY_KIND_MEMSET``           MEMSET named ``Memset``, with its ``bytes``
``CUPTI_ACTIVITY_KIND_SYNCHRONIZATION``  SYNC named like kineto's ``cuda_sync`` events (``Event
                                         Sync``, ``Stream Wait Event``, ``Stream Sync``, ``Context
                                         Sync``) from ``syncType`` (nsys only; nvprof has none)
``CUPTI_ACTIVITY_KIND_RUNTIME``          RUNTIME host ranges with their correlation id (which the
                                         GPU rows share). nsys names them in ``StringIds`` via
                                         ``nameId`` with the API version suffix
                                         (``cudaLaunchKernel_v7000``), which is cut off so that the
                                         names read like kineto's. nvprof's table has no name, only
                                         the callback id ``cbid``; :data:`RUNTIME_CBIDS` names the
                                         common ones (``cupti_runtime_cbid.h``), the others read
                                         ``cudaRuntime#<cbid>``.
NVTX ranges                              ANNOTATION host ranges with their text, so that
                                         ``ProfilerStep#N`` ranges are steps and ``dnn_suite.<phase>``
                                         ranges phases: nsys ``NVTX_EVENTS`` of ``eventType`` 59
                                         (push/pop) or 60 (start/end) with an end; nvprof
                                         ``CUPTI_ACTIVITY_KIND_MARKER`` start (``flags`` 2, named)
                                         and end (``flags`` 4) rows sharing an ``id``
=======================================  ==========================================================

Neither tool records PyTorch's operators, external ids, ``blocks per SM`` or estimated
occupancy: those stay NONE / NaN, so the figures that need them (tensor-core-eligible
operators, SM efficiency, achieved occupancy) are n/a. A table or column that is missing
(tracing of that kind was off, an older export) contributes nothing.
"""

from __future__ import annotations

import math
import re
import sqlite3
from pathlib import Path

from ..sqlite import column_names, query, table_names
from .model import ANNOTATION, KERNEL, MEMCPY, MEMSET, NONE, RUNTIME, SYNC, Timeline, build_gpu_ops, build_host_ops

MEMCPY_TABLE = "CUPTI_ACTIVITY_KIND_MEMCPY"
MEMSET_TABLE = "CUPTI_ACTIVITY_KIND_MEMSET"
SYNC_TABLE = "CUPTI_ACTIVITY_KIND_SYNCHRONIZATION"
RUNTIME_TABLE = "CUPTI_ACTIVITY_KIND_RUNTIME"
NSYS_NVTX_TABLE = "NVTX_EVENTS"
NVPROF_MARKER_TABLE = "CUPTI_ACTIVITY_KIND_MARKER"
# CUpti_ActivityMemcpyKind
COPY_KINDS = {1: "HtoD", 2: "DtoH", 3: "HtoA", 4: "AtoH", 5: "AtoA", 6: "AtoD", 7: "DtoA", 8: "DtoD", 9: "HtoH",
              10: "PtoP"}
# CUpti_ActivitySynchronizationType, named as kineto names its cuda_sync events
SYNC_TYPES = {1: "Event Sync", 2: "Stream Wait Event", 3: "Stream Sync", 4: "Context Sync"}
# CUPTI_RUNTIME_TRACE_CBID_* of cupti_runtime_cbid.h (stable across CUDA versions)
RUNTIME_CBIDS = {
    13: "cudaLaunch",
    20: "cudaMalloc",
    27: "cudaFree",
    31: "cudaMemcpy",
    41: "cudaMemcpyAsync",
    51: "cudaMemset",
    54: "cudaMemsetAsync",
    131: "cudaStreamSynchronize",
    165: "cudaDeviceSynchronize",
    211: "cudaLaunchKernel",
}
API_VERSION = re.compile(r"_v\d+$")
NVTX_RANGE_EVENT_TYPES = (59, 60)
MARKER_START, MARKER_END = 2, 4


class _Names:
    def __init__(self) -> None:
        self.names: list[str] = []
        self.ids: dict[str, int] = {}

    def __call__(self, name: str | None) -> int:
        name = "<unnamed>" if name is None else str(name)
        found = self.ids.get(name)
        if found is None:
            found = self.ids[name] = len(self.names)
            self.names.append(name)
        return found


def _int(value: object) -> int:
    return NONE if value is None else int(value)  # type: ignore[call-overload]


def _col(columns: set[str], name: str, default: str = "NULL") -> str:
    return f'"{name}"' if name in columns else default


def read_nsys_timeline(conn: sqlite3.Connection, path: Path, kernel_table: str, expected: str) -> Timeline:
    """The timeline of an nsys SQLite export (strings in ``StringIds``)."""
    tables = table_names(conn)
    names = _Names()
    gpu: list[tuple] = []
    host: list[tuple] = []
    _kernels(conn, path, expected, kernel_table, "demangledName", "StringIds", "id", names, gpu)
    _copies(conn, path, expected, tables, "correlationId", names, gpu)
    if SYNC_TABLE in tables:
        columns = column_names(conn, SYNC_TABLE)
        sql = (f"SELECT {_col(columns, 'deviceId')}, {_col(columns, 'streamId')}, start, end, "
               f"{_col(columns, 'syncType')}, {_col(columns, 'correlationId')} FROM {SYNC_TABLE}")
        for device, stream, start, end, sync_type, correlation in query(conn, path, sql, expected):
            name = SYNC_TYPES.get(_int(sync_type), "Sync")
            gpu.append((SYNC, _int(device), _int(stream), start, end, names(name), _int(correlation), NONE,
                        math.nan, math.nan, NONE))
    if RUNTIME_TABLE in tables and "StringIds" in tables:
        columns = column_names(conn, RUNTIME_TABLE)
        join = "LEFT JOIN StringIds AS s ON s.id = r.nameId" if "nameId" in columns else ""
        sql = (f"SELECT {_col(columns, 'globalTid')}, r.start, r.end, {'s.value' if join else 'NULL'}, "
               f"{_col(columns, 'correlationId')} FROM {RUNTIME_TABLE} AS r {join}")
        for thread, start, end, name, correlation in query(conn, path, sql, expected):
            name = API_VERSION.sub("", name) if name else name
            host.append((RUNTIME, _int(thread), start, end, names(name), _int(correlation), NONE))
    if NSYS_NVTX_TABLE in tables:
        columns = column_names(conn, NSYS_NVTX_TABLE)
        has_text_id = "textId" in columns and "StringIds" in tables
        text = "COALESCE(e.text, s.value)" if has_text_id else "e.text"
        join = "LEFT JOIN StringIds AS s ON s.id = e.textId " if has_text_id else ""
        sql = (f"SELECT {_col(columns, 'globalTid', 'NULL')}, e.start, e.end, {text} FROM {NSYS_NVTX_TABLE} AS e "
               f"{join}WHERE e.eventType IN {NVTX_RANGE_EVENT_TYPES} AND e.end IS NOT NULL")
        for thread, start, end, name in query(conn, path, sql, expected):
            host.append((ANNOTATION, _int(thread), start, end, names(name), NONE, NONE))
    return Timeline("nsys", path, names.names, build_gpu_ops(gpu), build_host_ops(host))


def read_nvprof_timeline(conn: sqlite3.Connection, path: Path, kernel_table: str, expected: str) -> Timeline:
    """The timeline of an nvprof ``.nvvp`` file (strings in ``StringTable``)."""
    tables = table_names(conn)
    names = _Names()
    gpu: list[tuple] = []
    host: list[tuple] = []
    _kernels(conn, path, expected, kernel_table, "name", "StringTable", "_id_", names, gpu)
    # nvprof's memcpy rows carry the driver call's correlationId and the runtime call's
    # runtimeCorrelationId (0 when there is none): the runtime one links them to RUNTIME rows.
    memcpy_columns = column_names(conn, MEMCPY_TABLE) if MEMCPY_TABLE in tables else set()
    correlation = ("COALESCE(NULLIF(runtimeCorrelationId, 0), correlationId)"
                   if "runtimeCorrelationId" in memcpy_columns else "correlationId")
    _copies(conn, path, expected, tables, correlation, names, gpu)
    if RUNTIME_TABLE in tables:
        columns = column_names(conn, RUNTIME_TABLE)
        sql = (f"SELECT {_col(columns, 'threadId')}, start, end, {_col(columns, 'cbid')}, "
               f"{_col(columns, 'correlationId')} FROM {RUNTIME_TABLE}")
        for thread, start, end, cbid, corr in query(conn, path, sql, expected):
            name = RUNTIME_CBIDS.get(_int(cbid), f"cudaRuntime#{_int(cbid)}")
            host.append((RUNTIME, _int(thread), start, end, names(name), _int(corr), NONE))
    if NVPROF_MARKER_TABLE in tables and "StringTable" in tables:
        sql = (f"SELECT b.timestamp, e.timestamp, s.value FROM {NVPROF_MARKER_TABLE} AS b "
               f"JOIN {NVPROF_MARKER_TABLE} AS e ON e.id = b.id AND e.flags = {MARKER_END} "
               f"LEFT JOIN StringTable AS s ON s._id_ = b.name WHERE b.flags = {MARKER_START}")
        for start, end, name in query(conn, path, sql, expected):
            host.append((ANNOTATION, NONE, start, end, names(name), NONE, NONE))
    return Timeline("nvprof", path, names.names, build_gpu_ops(gpu), build_host_ops(host))


def _kernels(conn: sqlite3.Connection, path: Path, expected: str, table: str, name_column: str,
             strings: str, id_column: str, names: _Names, gpu: list[tuple]) -> None:
    columns = column_names(conn, table)
    sql = (f'SELECT k.deviceId, {_col(columns, "streamId")}, k.start, k.end, s.value, '
           f'{_col(columns, "correlationId")} FROM "{table}" AS k '
           f'LEFT JOIN "{strings}" AS s ON s."{id_column}" = k."{name_column}"')
    for device, stream, start, end, name, correlation in query(conn, path, sql, expected):
        gpu.append((KERNEL, _int(device), _int(stream), start, end, names(name), _int(correlation), NONE,
                    math.nan, math.nan, NONE))


def _copies(conn: sqlite3.Connection, path: Path, expected: str, tables: set[str], correlation: str, names: _Names,
            gpu: list[tuple]) -> None:
    if MEMCPY_TABLE in tables:
        columns = column_names(conn, MEMCPY_TABLE)
        sql = (f"SELECT deviceId, {_col(columns, 'streamId')}, start, end, copyKind, {_col(columns, 'bytes')}, "
               f"{correlation if 'correlationId' in columns else 'NULL'} FROM {MEMCPY_TABLE}")
        for device, stream, start, end, kind, nbytes, corr in query(conn, path, sql, expected):
            label = COPY_KINDS.get(_int(kind), f"kind {_int(kind)}")
            gpu.append((MEMCPY, _int(device), _int(stream), start, end, names(f"Memcpy {label}"), _int(corr), NONE,
                        math.nan, math.nan, _int(nbytes)))
    if MEMSET_TABLE in tables:
        columns = column_names(conn, MEMSET_TABLE)
        sql = (f"SELECT deviceId, {_col(columns, 'streamId')}, start, end, {_col(columns, 'bytes')}, "
               f"{_col(columns, 'correlationId')} FROM {MEMSET_TABLE}")
        for device, stream, start, end, nbytes, corr in query(conn, path, sql, expected):
            gpu.append((MEMSET, _int(device), _int(stream), start, end, names("Memset"), _int(corr), NONE,
                        math.nan, math.nan, _int(nbytes)))
