"""PyTorch profiler (kineto) traces: the Chrome-trace JSON that ``torch.profiler`` and
``tensorboard_trace_handler`` write (``*.pt.trace.json[.gz]``), CUDA (CUPTI) or ROCm.

Read into the one timeline model (:mod:`.gpu_time.model`); the figures are those of
:mod:`.gpu_time`. Complete events (``"ph": "X"``) are kept by category: ``kernel``,
``gpu_memcpy``, ``gpu_memset`` and ``cuda_sync`` on the device; ``cpu_op``, ``cuda_runtime``,
``cuda_driver`` and ``user_annotation`` on the host (older spellings ``Kernel``, ``Memcpy``,
``Memset``, ``Runtime``, ``Operator`` too). Timestamps are microseconds, possibly fractional;
they become integer nanoseconds from the trace's first whole microsecond, so that the
fraction survives the conversion. A trace's rank is ``distributedInfo.rank``.

Nothing here imports torch: a trace from a GPU cluster can be analysed on a laptop.
"""

from __future__ import annotations

import gzip
import json
import math
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from .base import Analysis
from .errors import InvalidProfileFile
from .gpu_time import analyze_timelines
from .gpu_time.model import (
    ANNOTATION,
    CPU_OP,
    KERNEL,
    MEMCPY,
    MEMSET,
    NONE,
    RUNTIME,
    SYNC,
    GpuOps,
    HostOps,
    Timeline,
)

EXPECTED = "a PyTorch profiler (kineto) trace: Chrome-trace JSON with a traceEvents list (.json or .json.gz)"
DIRECTORY_EXPECTED = "a directory of PyTorch profiler (kineto) traces, one per rank"
SUFFIXES = (".json", ".json.gz")
GZIP_MAGIC = b"\x1f\x8b"
SNIFF_BYTES = 65536
# cat -> (on the device?, kind)
CATEGORIES = {
    "kernel": (True, KERNEL),
    "Kernel": (True, KERNEL),
    "gpu_memcpy": (True, MEMCPY),
    "Memcpy": (True, MEMCPY),
    "gpu_memset": (True, MEMSET),
    "Memset": (True, MEMSET),
    "cuda_sync": (True, SYNC),
    "cpu_op": (False, CPU_OP),
    "Operator": (False, CPU_OP),
    "operator": (False, CPU_OP),
    "cuda_runtime": (False, RUNTIME),
    "cuda_driver": (False, RUNTIME),
    "Runtime": (False, RUNTIME),
    "runtime": (False, RUNTIME),
    "user_annotation": (False, ANNOTATION),
}


def is_trace_name(path: Path) -> bool:
    return path.name.endswith(SUFFIXES) and not path.name.endswith(".analysis.json")


def looks_like_trace(path: Path) -> bool:
    """Whether the file's first bytes read like a Chrome trace (to decide that its errors matter)."""
    try:
        with path.open("rb") as f:
            head = f.read(SNIFF_BYTES)
        if head.startswith(GZIP_MAGIC):
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, SNIFF_BYTES)
    except (OSError, zlib.error):
        return False
    return b'"traceEvents"' in head or b'"schemaVersion"' in head or path.name.endswith(".pt.trace.json")


def analyze_kineto(path: Path, top: int = 20) -> Analysis:
    """Analyze one trace file, or a directory holding one trace per rank."""
    if path.is_dir():
        return analyze_timelines(read_trace_directory(path), source=path, top=top)
    return analyze_timelines([read_trace(path)], source=path, top=top)


def read_trace_directory(folder: Path) -> list[Timeline]:
    """Every trace in ``folder``, ordered by rank; two traces of one rank are refused."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and is_trace_name(p) and looks_like_trace(p))
    if not files:
        raise InvalidProfileFile(folder, "no trace files (*.json, *.json.gz with traceEvents) in it", DIRECTORY_EXPECTED)
    timelines = [read_trace(p) for p in files]
    by_rank: dict[int, Path] = {}
    for position, timeline in enumerate(timelines):
        if timeline.rank is None:
            timeline.rank = position
            timeline.warnings.append(f"{timeline.source.name}: no distributedInfo.rank; taken as rank {position} "
                                     "by file name order")
        if timeline.rank in by_rank:
            raise InvalidProfileFile(folder, f"two traces of rank {timeline.rank}: {by_rank[timeline.rank].name} "
                                     f"and {timeline.source.name}", DIRECTORY_EXPECTED + ", each rank once")
        by_rank[timeline.rank] = timeline.source
    return sorted(timelines, key=lambda t: t.rank)


def read_trace(path: Path) -> Timeline:
    document = _load(path)
    events = document.get("traceEvents")
    if not isinstance(events, list):
        raise InvalidProfileFile(path, "JSON without a traceEvents list", EXPECTED)
    timeline = _columns(path, events)
    del events, document["traceEvents"]
    info = document.get("distributedInfo")
    if isinstance(info, dict):
        timeline.rank = _int_or_none(info.get("rank"))
        timeline.world_size = _int_or_none(info.get("world_size"))
    for device in document.get("deviceProperties") or []:
        if isinstance(device, dict) and _int_or_none(device.get("id")) is not None:
            timeline.devices[int(device["id"])] = {k: v for k, v in device.items() if k != "id"}
    return timeline


def _load(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InvalidProfileFile(path, f"cannot read it ({e.strerror})", EXPECTED) from e
    if not data.strip():
        raise InvalidProfileFile(path, "an empty file", EXPECTED)
    if data.startswith(GZIP_MAGIC):
        try:
            data = gzip.decompress(data)
        except EOFError as e:
            raise InvalidProfileFile(path, "a truncated gzip file (it ends before its end-of-stream marker)",
                                     EXPECTED) from e
        except (OSError, zlib.error) as e:
            raise InvalidProfileFile(path, f"a damaged gzip file ({e})", EXPECTED) from e
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        # Python's json writes NaN and Infinity, which JSON (and orjson) do not allow.
        try:
            document = json.loads(data)
        except (ValueError, RecursionError):
            raise InvalidProfileFile(path, f"not JSON ({e})", EXPECTED) from e
    if not isinstance(document, dict):
        raise InvalidProfileFile(path, f"JSON whose top level is a {type(document).__name__}, not an object",
                                 EXPECTED)
    return document


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _arg_int(args: dict[str, Any], key: str) -> int:
    value = args.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    parsed = _int_or_none(value) if isinstance(value, str) else None
    return NONE if parsed is None else parsed


def _arg_float(args: dict[str, Any], key: str) -> float:
    value = args.get(key)
    return float(value) if _number(value) else math.nan


def _columns(path: Path, events: list[Any]) -> Timeline:
    """One pass over the events into column lists, then arrays (the event dicts are dropped)."""
    names: list[str] = []
    ids: dict[str, int] = {}
    gpu: list[tuple] = []
    host: list[tuple] = []
    skipped, first_skipped = 0, ""
    for event in events:
        if not isinstance(event, dict) or event.get("ph") != "X":
            continue
        category = CATEGORIES.get(event.get("cat"))  # type: ignore[arg-type]
        if category is None:
            continue
        ts, dur = event.get("ts"), event.get("dur")
        if not (_number(ts) and _number(dur)) or dur < 0:
            skipped += 1
            first_skipped = first_skipped or f"{event.get('name')!r} (ts {ts!r}, dur {dur!r})"
            continue
        name = event.get("name")
        name = name if isinstance(name, str) else str(name)
        name_id = ids.get(name)
        if name_id is None:
            name_id = ids[name] = len(names)
            names.append(name)
        args = event.get("args")
        args = args if isinstance(args, dict) else {}
        on_device, kind = category
        if on_device:
            device = _arg_int(args, "device")
            gpu.append((kind, event.get("pid") if device == NONE and isinstance(event.get("pid"), int) else device,
                        _arg_int(args, "stream"), ts, dur, name_id, _arg_int(args, "correlation"),
                        _arg_int(args, "External id"), _arg_float(args, "blocks per SM"),
                        _arg_float(args, "est. achieved occupancy %"), _arg_int(args, "bytes")))
        else:
            thread = event.get("tid")
            host.append((kind, thread if isinstance(thread, int) else NONE, ts, dur, name_id,
                         _arg_int(args, "correlation"), _arg_int(args, "External id")))
    timeline = Timeline("kineto", path, names, _gpu_arrays(gpu, _origin(gpu, host)), _host_arrays(host, _origin(gpu, host)))
    if skipped:
        timeline.warnings.append(f"{path.name}: skipped {skipped} event{'s' if skipped > 1 else ''} without a numeric "
                                 f"ts and dur or with a negative duration (first: {first_skipped})")
    return timeline


def _origin(gpu: list[tuple], host: list[tuple]) -> float:
    starts = [row[3] for row in gpu[:1]] + [row[2] for row in host[:1]]
    if gpu:
        starts.append(min(row[3] for row in gpu))
    if host:
        starts.append(min(row[2] for row in host))
    return math.floor(min(starts)) if starts else 0.0


def _ns(ts: list[float], dur: list[float], origin: float) -> tuple[np.ndarray, np.ndarray]:
    start = np.rint((np.array(ts, dtype=np.float64) - origin) * 1000.0).astype(np.int64)
    return start, start + np.rint(np.array(dur, dtype=np.float64) * 1000.0).astype(np.int64)


def _gpu_arrays(rows: list[tuple], origin: float) -> GpuOps:
    columns = list(zip(*rows, strict=True)) if rows else [()] * 11
    start, end = _ns(columns[3], columns[4], origin)
    integers = {i: np.array(columns[i], dtype=np.int64) for i in (0, 1, 2, 5, 6, 7, 10)}
    return GpuOps(kind=integers[0], device=integers[1], stream=integers[2], start=start, end=end, name=integers[5],
                  correlation=integers[6], external_id=integers[7],
                  blocks_per_sm=np.array(columns[8], dtype=np.float64),
                  occupancy=np.array(columns[9], dtype=np.float64), nbytes=integers[10])


def _host_arrays(rows: list[tuple], origin: float) -> HostOps:
    columns = list(zip(*rows, strict=True)) if rows else [()] * 7
    start, end = _ns(columns[2], columns[3], origin)
    integers = {i: np.array(columns[i], dtype=np.int64) for i in (0, 1, 4, 5, 6)}
    return HostOps(kind=integers[0], thread=integers[1], start=start, end=end, name=integers[4],
                   correlation=integers[5], external_id=integers[6])
