"""One analysis for every timeline tool: the same events written as an Nsight Systems SQLite export,
an nvprof .nvvp file and a kineto trace give the same gpu_time figures, worked out by hand.

The timeline (microseconds; the SQLite files hold ns from an arbitrary origin, the trace µs):

host (thread 1)                                    device 0
  ProfilerStep#1 [0, 100)   ProfilerStep#2 [100, 200)
  c1 cudaLaunchKernel [10, 15)    -> K1 gemm  stream 7 [20, 50)
  c2 cudaLaunchKernel [16, 20)    -> K2 relu  stream 8 [40, 60)
  c3 cudaLaunchKernel [21, 23)    -> K3 relu  stream 8 [62, 64)
  c4 cudaMemcpyAsync  [52, 57)    -> M  Memcpy HtoD stream 7 [65, 70), 4096 B
  c5 cudaLaunchKernel [110, 115)  -> K4 gemm  stream 7 [120, 150)
  c6 cudaLaunchKernel [116, 120)  -> K5 relu  stream 8 [130, 140)
  c7 cudaLaunchKernel [121, 125)  -> K6 relu  stream 8 [150, 155)
  c8 cudaLaunchKernel [170, 175)  -> K7 relu  stream 7 [180, 190)
  c9 cudaStreamSynchronize [176, 190)

HTA keeps the operations launched before the last step (K1, K2, K3, M): busy [20,60) [62,64)
[65,70) over the span [20,70) of 50: idle 3 (6%), compute 42 (84%), non-compute 5 (10%). Stream
idle: stream 7 K1 -> M gap 15, M launched (52) after K1 ended (50): host wait; stream 8 K2 -> K3
gap 2, K3 launched (21) before K2 ended: kernel wait (< 30 µs). Host wait share 15/17.

TensorBoard steps: 4 launches each, device ends 70 and 190 inside the host steps: steps [0,100)
[100,200). Step 1: kernel 42, memcpy 5, runtime [10,15) [16,20) (the rest under kernels) 9.
Step 2: kernel [120,155) [180,190) 45, runtime [110,115) [116,120) [170,175) [176,180) 18.
Kernel share (42 + 45) / 2 / 100 = 0.435, memcpy 0.025, runtime 0.135. Utilization: kernels over
[0, 200): 87 / 200 = 43.5%. Synchronization: 14 µs in 2 steps = 7% of the step time (finding).
Launch delay of the kept kernels: 20-15, 40-20, 62-23: mean 64/3 µs.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from conftest import NSYS_SCHEMA, NVPROF_SCHEMA
from dnn_suite_profilers.analyzers import analyze_kineto, analyze_nsys, analyze_nvprof

ORIGIN_NS = 5_000_000_000
STEPS = [("ProfilerStep#1", 0, 100), ("ProfilerStep#2", 100, 200)]
# (correlation, name, start µs, end µs)
CALLS = [
    (1, "cudaLaunchKernel", 10, 15), (2, "cudaLaunchKernel", 16, 20), (3, "cudaLaunchKernel", 21, 23),
    (4, "cudaMemcpyAsync", 52, 57), (5, "cudaLaunchKernel", 110, 115), (6, "cudaLaunchKernel", 116, 120),
    (7, "cudaLaunchKernel", 121, 125), (8, "cudaLaunchKernel", 170, 175), (9, "cudaStreamSynchronize", 176, 190),
]
# (correlation, name, stream, start µs, end µs)
KERNELS = [
    (1, "gemm_kernel", 7, 20, 50), (2, "relu_kernel", 8, 40, 60), (3, "relu_kernel", 8, 62, 64),
    (5, "gemm_kernel", 7, 120, 150), (6, "relu_kernel", 8, 130, 140), (7, "relu_kernel", 8, 150, 155),
    (8, "relu_kernel", 7, 180, 190),
]
MEMCPY = (4, 7, 65, 70, 4096)  # correlation, stream, start, end, bytes (HtoD)
NSYS_RUNTIME = """CREATE TABLE CUPTI_ACTIVITY_KIND_RUNTIME (start INTEGER NOT NULL, end INTEGER NOT NULL,
  eventClass INTEGER NOT NULL, globalTid INTEGER, correlationId INTEGER, nameId INTEGER NOT NULL
  REFERENCES StringIds(id), returnValue INTEGER NOT NULL, callchainId INTEGER);"""
NSYS_API_NAMES = {"cudaLaunchKernel": "cudaLaunchKernel_v7000", "cudaMemcpyAsync": "cudaMemcpyAsync_v3020",
                  "cudaStreamSynchronize": "cudaStreamSynchronize_v3020"}
CBIDS = {"cudaLaunchKernel": 211, "cudaMemcpyAsync": 41, "cudaStreamSynchronize": 131}


def ns(us: int) -> int:
    return ORIGIN_NS + us * 1000


def string_id(conn: sqlite3.Connection, table: str, id_column: str, value: str) -> int:
    row = conn.execute(f"SELECT {id_column} FROM {table} WHERE value = ?", (value,)).fetchone()
    return row[0] if row else conn.execute(f"INSERT INTO {table} (value) VALUES (?)", (value,)).lastrowid


def build_nsys(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(NSYS_SCHEMA + NSYS_RUNTIME)

    def sid(value: str) -> int:
        return string_id(conn, "StringIds", "id", value)

    for corr, name, stream, start, end in KERNELS:
        conn.execute(
            "INSERT INTO CUPTI_ACTIVITY_KIND_KERNEL (start, end, deviceId, contextId, streamId, correlationId,"
            " globalPid, demangledName, shortName, registersPerThread, gridX, gridY, gridZ, blockX, blockY, blockZ,"
            " staticSharedMemory, dynamicSharedMemory, localMemoryPerThread, localMemoryTotal, gridId)"
            " VALUES (?, ?, 0, 1, ?, ?, 1, ?, ?, 32, 64, 1, 1, 256, 1, 1, 0, 0, 0, 0, ?)",
            (ns(start), ns(end), stream, corr, sid(name), sid(name), corr))
    corr, stream, start, end, nbytes = MEMCPY
    conn.execute("INSERT INTO CUPTI_ACTIVITY_KIND_MEMCPY (start, end, deviceId, contextId, streamId, correlationId,"
                 " globalPid, bytes, copyKind) VALUES (?, ?, 0, 1, ?, ?, 1, ?, 1)",
                 (ns(start), ns(end), stream, corr, nbytes))
    for corr, name, start, end in CALLS:
        conn.execute("INSERT INTO CUPTI_ACTIVITY_KIND_RUNTIME (start, end, eventClass, globalTid, correlationId,"
                     " nameId, returnValue) VALUES (?, ?, 1, 1, ?, ?, 0)",
                     (ns(start), ns(end), corr, sid(NSYS_API_NAMES[name])))
    for name, start, end in STEPS:
        conn.execute("INSERT INTO NVTX_EVENTS (start, end, eventType, text, globalTid, domainId)"
                     " VALUES (?, ?, 59, ?, 1, 0)", (ns(start), ns(end), name))
    conn.execute("INSERT INTO TARGET_INFO_GPU (vmId, id, name, smCount, computeMajor, computeMinor)"
                 " VALUES (0, 0, 'NVIDIA H100', 132, 9, 0)")
    conn.commit()
    conn.close()
    return path


def build_nvprof(path: Path) -> Path:
    conn = sqlite3.connect(path)
    table = "CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL"
    conn.executescript(NVPROF_SCHEMA.format(kernel_table=table))

    def sid(value: str) -> int:
        return string_id(conn, "StringTable", "_id_", value)

    for corr, name, stream, start, end in KERNELS:
        conn.execute(f"INSERT INTO {table} (registersPerThread, start, end, deviceId, contextId, streamId, gridX,"
                     " gridY, gridZ, blockX, blockY, blockZ, correlationId, name)"
                     " VALUES (32, ?, ?, 0, 1, ?, 64, 1, 1, 256, 1, 1, ?, ?)",
                     (ns(start), ns(end), stream, corr, sid(name)))
    corr, stream, start, end, nbytes = MEMCPY
    conn.execute("INSERT INTO CUPTI_ACTIVITY_KIND_MEMCPY (copyKind, srcKind, dstKind, flags, bytes, start, end,"
                 " deviceId, contextId, streamId, correlationId, runtimeCorrelationId)"
                 " VALUES (1, 1, 2, 0, ?, ?, ?, 0, 1, ?, ?, 0)", (nbytes, ns(start), ns(end), stream, corr))
    for corr, name, start, end in CALLS:
        conn.execute("INSERT INTO CUPTI_ACTIVITY_KIND_RUNTIME (cbid, start, end, processId, threadId, correlationId,"
                     " returnValue) VALUES (?, ?, ?, 4242, 1, ?, 0)", (CBIDS[name], ns(start), ns(end), corr))
    thread = (4242).to_bytes(4, "little") + (1).to_bytes(8, "little")
    insert = "INSERT INTO CUPTI_ACTIVITY_KIND_MARKER (flags, timestamp, id, objectKind, objectId, name, domain)"
    for marker_id, (name, start, end) in enumerate(STEPS, 1):
        conn.execute(f"{insert} VALUES (2, ?, ?, 2, ?, ?, 0)", (ns(start), marker_id, thread, sid(name)))
        conn.execute(f"{insert} VALUES (4, ?, ?, 2, ?, 0, 0)", (ns(end), marker_id, thread))
    conn.commit()
    conn.close()
    return path


def build_kineto(path: Path) -> Path:
    events = [{"ph": "X", "cat": "user_annotation", "name": name, "pid": 1, "tid": 1, "ts": start, "dur": end - start,
               "args": {}} for name, start, end in STEPS]
    events += [{"ph": "X", "cat": "cuda_runtime", "name": name, "pid": 1, "tid": 1, "ts": start, "dur": end - start,
                "args": {"correlation": corr}} for corr, name, start, end in CALLS]
    events += [{"ph": "X", "cat": "kernel", "name": name, "pid": 0, "tid": stream, "ts": start, "dur": end - start,
                "args": {"device": 0, "stream": stream, "correlation": corr}}
               for corr, name, stream, start, end in KERNELS]
    corr, stream, start, end, nbytes = MEMCPY
    events.append({"ph": "X", "cat": "gpu_memcpy", "name": "Memcpy HtoD", "pid": 0, "tid": stream, "ts": start,
                   "dur": end - start, "args": {"device": 0, "stream": stream, "correlation": corr, "bytes": nbytes}})
    path.write_text(json.dumps({"traceEvents": events}))
    return path


BUILDERS = {"nsys": (build_nsys, "report.sqlite", analyze_nsys), "nvprof": (build_nvprof, "profile.nvvp",
                                                                            analyze_nvprof),
            "kineto": (build_kineto, "trace.pt.trace.json", analyze_kineto)}
HAND_WORKED = {
    "gpu0.idle_pct": 6.0,
    "gpu0.compute_pct": 84.0,
    "gpu0.non_compute_pct": 10.0,
    "gpu0.idle_host_wait_share": 15 / 17,
    "gpu0.idle_kernel_wait_share": 2 / 17,
    "gpu0.idle_other_share": 0.0,
    "step.count": 2,
    "step.time": 100_000,
    "step.kernel_share": 0.435,
    "step.memcpy_share": 0.025,
    "step.runtime_share": 0.135,
    "gpu0.utilization_pct": 43.5,
    "sync.calls_per_step": 0.5,
    "sync.time_per_step": 7_000,
    "launch.launch_delay_mean": 64_000 / 3,
}
GPU_TIME_PREFIXES = ("step.", "sync.", "launch.", "kernels.", "phase.", "comm.")


def analyze(tool: str, tmp_path: Path):
    build, name, analyzer = BUILDERS[tool]
    return analyzer(build(tmp_path / name))


@pytest.mark.parametrize("tool", ["nsys", "nvprof", "kineto"])
def test_hand_worked_figures(tool, tmp_path):
    analysis = analyze(tool, tmp_path)
    v = {key: m.value for key, m in analysis.metrics.items()}
    assert {key: v.get(key) for key in HAND_WORKED} == {key: pytest.approx(value) for key, value in HAND_WORKED.items()}
    # no blocks per SM / occupancy in these tools (none in this trace either): n/a, rendered as such
    assert (v["gpu0.sm_efficiency_pct"], v["gpu0.achieved_occupancy_pct"]) == (None, None)
    assert [row["finding"] for row in analysis.tables["diagnosis"]] == ["synchronization-bound"]
    text = analysis.format_text()
    assert "n/a" in text and "synchronization-bound" in text
    json.dumps(analysis.to_json())


def test_same_figures_from_every_tool(tmp_path):
    results = {tool: analyze(tool, tmp_path) for tool in BUILDERS}
    kineto = results.pop("kineto")
    wanted = {key for key in kineto.metrics if key.startswith(GPU_TIME_PREFIXES) or key.startswith("gpu0.")}
    for tool, analysis in results.items():
        v = {key: m.value for key, m in analysis.metrics.items()}
        assert {key: v.get(key) for key in wanted} == {
            key: (pytest.approx(m.value) if m.value is not None else None) for key, m in kineto.metrics.items()
            if key in wanted}, tool
        for table in ("step_breakdown", "kernel_categories", "idle_by_stream", "diagnosis"):
            assert analysis.tables[table] == kineto.tables[table], (tool, table)
        assert analysis.tables["top_kernels_overall"] == kineto.tables["top_kernels"], tool


def test_tool_tables_keep_their_meaning_beside_the_new_ones(tmp_path):
    analysis = analyze("nsys", tmp_path)
    v = {key: m.value for key, m in analysis.metrics.items()}
    # no dnn_suite.window: the capture span [20, 190) µs; kernels busy [20,60) [62,64) [120,155) [180,190)
    assert v["window_length"] == 170_000
    assert v["gpu0.compute_utilization"] == pytest.approx(100 * 87 / 170)
    assert (v["gpu0.memcpy_htod_time"], v["gpu0.memcpy_htod_bytes"]) == (5_000, 4096)
    (row,) = analysis.tables["per_device"]
    assert (row["device"], row["name"], row["compute_capability"]) == (0, "NVIDIA H100", "9.0")
    assert (row["compute_utilization"], row["idle_pct"], row["utilization_pct"]) == (
        pytest.approx(100 * 87 / 170), pytest.approx(6.0), pytest.approx(43.5))
    assert [(r["device"], r["name"], r["instances"]) for r in analysis.tables["top_kernels"]] == [
        (0, "gemm_kernel", 2), (0, "relu_kernel", 5)]  # 60 µs, 47 µs


def test_without_runtime_or_nvtx_tables(tmp_path):
    """No host side at all (runtime and NVTX tracing off): the device figures only."""
    path = build_nsys(tmp_path / "r.sqlite")
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE CUPTI_ACTIVITY_KIND_RUNTIME")
        conn.execute("DROP TABLE NVTX_EVENTS")
    analysis = analyze_nsys(path)
    v = {key: m.value for key, m in analysis.metrics.items()}
    assert "step.count" not in v
    # every kernel and the copy kept (no steps to cut): busy [20,70) [120,155) [180,190) less the
    # idle [60,62) [64,65) over [20,190)
    assert v["gpu0.idle_pct"] == pytest.approx(100 * (170 - 92) / 170)
    assert v["gpu0.idle_host_wait_share"] == 0.0  # no launch calls: no gap is a host wait
    assert v["launch.launch_delay_mean"] is None
    assert "n/a" in analysis.format_text()
