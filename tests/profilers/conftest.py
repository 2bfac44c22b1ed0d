"""Builders of small nvprof (.nvvp) and nsys SQLite files with the tools' real table and column
names, all holding the same timeline (times in ns):

window (NVTX range "dnn_suite.window"): [1000, 2000); a second range "other.range": [500, 3000)

device 0                                    device 1
  E gemm  [ 200,  400)  before the window     P copy  [1000, 1250)  starts at the window start
  H relu  [ 950, 1050)  straddles the start   Q copy  [1250, 1500)  touches P
  A gemm  [1100, 1400)  stream 7              R gemm  [3000, 3100)  after the window
  G relu  [1150, 1200)  nested in A
  B relu  [1300, 1600)  stream 8, overlaps A
  C gemm  [1600, 1700)  touches B
  D relu  [1900, 2200)  straddles the end
  F gemm  [2500, 2600)  after the window

memcpys: dev 0 HtoD [1010, 1030) 4096 B, HtoD [500, 600) 100 B (before), DtoH [1800, 1850) 1024 B;
dev 1 DtoD [1500, 1510) 64 B; dev 0 PtoP (kind 10) [1100, 1200) 8 B (not reported).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
WINDOW = (1000, 2000)
OTHER_RANGE = (500, 3000)
# (device, stream, start, end, name)
KERNELS = [
    (0, 7, 200, 400, "gemm_kernel"),
    (0, 7, 950, 1050, "relu_kernel"),
    (0, 7, 1100, 1400, "gemm_kernel"),
    (0, 9, 1150, 1200, "relu_kernel"),
    (0, 8, 1300, 1600, "relu_kernel"),
    (0, 7, 1600, 1700, "gemm_kernel"),
    (0, 7, 1900, 2200, "relu_kernel"),
    (0, 7, 2500, 2600, "gemm_kernel"),
    (1, 7, 1000, 1250, "copy_kernel"),
    (1, 7, 1250, 1500, "copy_kernel"),
    (1, 7, 3000, 3100, "gemm_kernel"),
]
# (device, copyKind, start, end, bytes)
MEMCPYS = [
    (0, 1, 1010, 1030, 4096),
    (0, 1, 500, 600, 100),
    (0, 2, 1800, 1850, 1024),
    (1, 8, 1500, 1510, 64),
    (0, 10, 1100, 1200, 8),
]

NVPROF_SCHEMA = """
CREATE TABLE StringTable(_id_ INTEGER PRIMARY KEY AUTOINCREMENT, value TEXT NOT NULL UNIQUE);
CREATE TABLE {kernel_table}(_id_ INTEGER PRIMARY KEY AUTOINCREMENT, cacheConfig BLOB, sharedMemoryConfig INT,
  registersPerThread INT NOT NULL, start INT NOT NULL, end INT NOT NULL, deviceId INT NOT NULL,
  contextId INT NOT NULL, streamId INT NOT NULL, gridX INT NOT NULL, gridY INT NOT NULL, gridZ INT NOT NULL,
  blockX INT NOT NULL, blockY INT NOT NULL, blockZ INT NOT NULL, staticSharedMemory INT, dynamicSharedMemory INT,
  correlationId INT NOT NULL, gridId INT, name INT NOT NULL REFERENCES StringTable(_id_));
CREATE TABLE CUPTI_ACTIVITY_KIND_MARKER(_id_ INTEGER PRIMARY KEY AUTOINCREMENT, flags INT NOT NULL,
  timestamp INT NOT NULL, id INT NOT NULL, objectKind INT NOT NULL, objectId BLOB NOT NULL,
  name INT NOT NULL REFERENCES StringTable(_id_), domain INT NOT NULL REFERENCES StringTable(_id_));
CREATE TABLE CUPTI_ACTIVITY_KIND_MEMCPY(_id_ INTEGER PRIMARY KEY AUTOINCREMENT, copyKind INT NOT NULL,
  srcKind INT NOT NULL, dstKind INT NOT NULL, flags INT NOT NULL, bytes INT NOT NULL, start INT NOT NULL,
  end INT NOT NULL, deviceId INT NOT NULL, contextId INT NOT NULL, streamId INT NOT NULL,
  correlationId INT NOT NULL, runtimeCorrelationId INT NOT NULL);
CREATE TABLE CUPTI_ACTIVITY_KIND_RUNTIME(_id_ INTEGER PRIMARY KEY AUTOINCREMENT, cbid INT NOT NULL,
  start INT NOT NULL, end INT NOT NULL, processId INT NOT NULL, threadId INT NOT NULL, correlationId INT NOT NULL,
  returnValue INT NOT NULL);
"""

NSYS_SCHEMA = """
CREATE TABLE StringIds (id INTEGER NOT NULL PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE CUPTI_ACTIVITY_KIND_KERNEL (start INTEGER NOT NULL, end INTEGER NOT NULL, deviceId INTEGER NOT NULL,
  contextId INTEGER NOT NULL, streamId INTEGER NOT NULL, correlationId INTEGER, globalPid INTEGER,
  demangledName INTEGER NOT NULL REFERENCES StringIds(id), shortName INTEGER NOT NULL REFERENCES StringIds(id),
  mangledName INTEGER REFERENCES StringIds(id), launchType INTEGER, cacheConfig INTEGER,
  registersPerThread INTEGER NOT NULL, gridX INTEGER NOT NULL, gridY INTEGER NOT NULL, gridZ INTEGER NOT NULL,
  blockX INTEGER NOT NULL, blockY INTEGER NOT NULL, blockZ INTEGER NOT NULL, staticSharedMemory INTEGER NOT NULL,
  dynamicSharedMemory INTEGER NOT NULL, localMemoryPerThread INTEGER NOT NULL, localMemoryTotal INTEGER NOT NULL,
  gridId INTEGER NOT NULL, sharedMemoryExecuted INTEGER, graphNodeId INTEGER, sharedMemoryLimitConfig INTEGER);
CREATE TABLE NVTX_EVENTS (start INTEGER NOT NULL, end INTEGER, eventType INTEGER NOT NULL, rangeId INTEGER,
  category INTEGER, color INTEGER, text TEXT, globalTid INTEGER, endGlobalTid INTEGER,
  textId INTEGER REFERENCES StringIds(id), domainId INTEGER, uint64Value INTEGER, int64Value INTEGER,
  doubleValue REAL, uint32Value INTEGER, int32Value INTEGER, floatValue REAL, jsonTextId INTEGER, jsonText TEXT);
CREATE TABLE CUPTI_ACTIVITY_KIND_MEMCPY (start INTEGER NOT NULL, end INTEGER NOT NULL, deviceId INTEGER NOT NULL,
  contextId INTEGER NOT NULL, streamId INTEGER NOT NULL, correlationId INTEGER, globalPid INTEGER,
  bytes INTEGER NOT NULL, copyKind INTEGER NOT NULL, deprecatedSrcId INTEGER, srcKind INTEGER, dstKind INTEGER,
  srcDeviceId INTEGER, srcContextId INTEGER, dstDeviceId INTEGER, dstContextId INTEGER, migrationCause INTEGER,
  graphNodeId INTEGER, virtualAddress INTEGER);
CREATE TABLE TARGET_INFO_GPU (vmId INTEGER NOT NULL, id INTEGER NOT NULL, name TEXT, busLocation TEXT,
  isDiscrete INTEGER, l2CacheSize INTEGER, totalMemory INTEGER, memoryBandwidth INTEGER, clockRate INTEGER,
  smCount INTEGER, pwGpuId INTEGER, uuid TEXT, luid INTEGER, chipName TEXT, cuDevice INTEGER, ctxId INTEGER,
  computeMajor INTEGER, computeMinor INTEGER);
CREATE TABLE TARGET_INFO_CUDA_DEVICE (gpuId INTEGER NOT NULL, cudaId INTEGER NOT NULL, pid INTEGER NOT NULL,
  uuid TEXT, numMultiprocessors INTEGER, computeCapabilityMajor INTEGER, computeCapabilityMinor INTEGER);
"""
NVTX_PUSH_POP, NVTX_START_END, NVTX_MARK = 59, 60, 34
GPUS = [(0, "NVIDIA H200", 9, 0), (1, "NVIDIA A100-SXM4-80GB", 8, 0)]


def _strings(conn: sqlite3.Connection, table: str, id_column: str) -> Callable[[str], int]:
    def string_id(value: str) -> int:
        row = conn.execute(f"SELECT {id_column} FROM {table} WHERE value = ?", (value,)).fetchone()
        if row is not None:
            return row[0]
        return conn.execute(f"INSERT INTO {table} (value) VALUES (?)", (value,)).lastrowid

    return string_id


def _build_nvprof(
    path: Path,
    ranges: list[tuple[str, int, int]],
    kernel_table: str = "CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL",
    kernels: list[tuple] = KERNELS,
) -> Path:
    """An .nvvp file; ``ranges`` are NVTX (name, start, end) recorded as start/end marker pairs."""
    conn = sqlite3.connect(path)
    conn.executescript(NVPROF_SCHEMA.format(kernel_table=kernel_table))
    string_id = _strings(conn, "StringTable", "_id_")
    for i, (device, stream, start, end, name) in enumerate(kernels):
        conn.execute(
            f"INSERT INTO {kernel_table} (registersPerThread, start, end, deviceId, contextId, streamId, gridX,"
            " gridY, gridZ, blockX, blockY, blockZ, correlationId, name)"
            " VALUES (32, ?, ?, ?, 1, ?, 64, 1, 1, 256, 1, 1, ?, ?)",
            (start, end, device, stream, 100 + i, string_id(name)),
        )
    thread = (4242).to_bytes(4, "little") + (77).to_bytes(8, "little")
    for marker_id, (name, start, end) in enumerate(ranges, 1):
        insert = "INSERT INTO CUPTI_ACTIVITY_KIND_MARKER (flags, timestamp, id, objectKind, objectId, name, domain)"
        conn.execute(f"{insert} VALUES (2, ?, ?, 2, ?, ?, 0)", (start, marker_id, thread, string_id(name)))
        conn.execute(f"{insert} VALUES (4, ?, ?, 2, ?, 0, 0)", (end, marker_id, thread))
    for i, (device, kind, start, end, nbytes) in enumerate(MEMCPYS):
        conn.execute(
            "INSERT INTO CUPTI_ACTIVITY_KIND_MEMCPY (copyKind, srcKind, dstKind, flags, bytes, start, end, deviceId,"
            " contextId, streamId, correlationId, runtimeCorrelationId) VALUES (?, 1, 2, 0, ?, ?, ?, ?, 1, 7, ?, 0)",
            (kind, nbytes, start, end, device, 500 + i),
        )
    conn.commit()
    conn.close()
    return path


def _build_nsys(
    path: Path,
    ranges: list[tuple[str, int, int]],
    registered_strings: bool = False,
    cuda_to_gpu: dict[int, int] | None = None,
) -> Path:
    """An nsys export; ``ranges`` are NVTX push/pop ranges with their text inline, or in StringIds
    (``textId``) when ``registered_strings``; ``cuda_to_gpu`` fills TARGET_INFO_CUDA_DEVICE."""
    conn = sqlite3.connect(path)
    conn.executescript(NSYS_SCHEMA)
    string_id = _strings(conn, "StringIds", "id")
    for i, (device, stream, start, end, name) in enumerate(KERNELS):
        conn.execute(
            "INSERT INTO CUPTI_ACTIVITY_KIND_KERNEL (start, end, deviceId, contextId, streamId, correlationId,"
            " globalPid, demangledName, shortName, registersPerThread, gridX, gridY, gridZ, blockX, blockY, blockZ,"
            " staticSharedMemory, dynamicSharedMemory, localMemoryPerThread, localMemoryTotal, gridId)"
            " VALUES (?, ?, ?, 1, ?, ?, 281474976710656, ?, ?, 32, 64, 1, 1, 256, 1, 1, 0, 0, 0, 0, ?)",
            (start, end, device, stream, 100 + i, string_id(f"void {name}(float*)"), string_id(name), i),
        )
    insert = "INSERT INTO NVTX_EVENTS (start, end, eventType, text, textId, globalTid, domainId)"
    for name, start, end in ranges:
        if registered_strings:
            conn.execute(f"{insert} VALUES (?, ?, ?, NULL, ?, 1, 0)", (start, end, NVTX_START_END, string_id(name)))
        else:
            conn.execute(f"{insert} VALUES (?, ?, ?, ?, NULL, 1, 0)", (start, end, NVTX_PUSH_POP, name))
    conn.execute(f"{insert} VALUES (1500, NULL, ?, 'dnn_suite.window', NULL, 1, 0)", (NVTX_MARK,))
    for i, (device, kind, start, end, nbytes) in enumerate(MEMCPYS):
        conn.execute(
            "INSERT INTO CUPTI_ACTIVITY_KIND_MEMCPY (start, end, deviceId, contextId, streamId, correlationId,"
            " globalPid, bytes, copyKind, srcKind, dstKind) VALUES (?, ?, ?, 1, 7, ?, 1, ?, ?, 0, 1)",
            (start, end, device, 500 + i, nbytes, kind),
        )
    for gpu, name, major, minor in GPUS:
        conn.execute(
            "INSERT INTO TARGET_INFO_GPU (vmId, id, name, smCount, computeMajor, computeMinor)"
            " VALUES (0, ?, ?, 132, ?, ?)",
            (gpu, name, major, minor),
        )
    for cuda, gpu in (cuda_to_gpu or {}).items():
        conn.execute("INSERT INTO TARGET_INFO_CUDA_DEVICE (gpuId, cudaId, pid) VALUES (?, ?, 4242)", (gpu, cuda))
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def build_nvprof() -> Callable[..., Path]:
    return _build_nvprof


@pytest.fixture
def build_nsys() -> Callable[..., Path]:
    return _build_nsys


@pytest.fixture
def nvprof_file(tmp_path: Path) -> Path:
    return _build_nvprof(tmp_path / "profile.nvvp", [("dnn_suite.window", *WINDOW), ("other.range", *OTHER_RANGE)])


@pytest.fixture
def nsys_file(tmp_path: Path) -> Path:
    return _build_nsys(tmp_path / "report.sqlite", [("dnn_suite.window", *WINDOW), ("other.range", *OTHER_RANGE)])


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES
