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
import msgspec

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
    return path.name.endswith(SUFFIXES) and not path.name.endswith("analysis.json")  # not our own output


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
        raise InvalidProfileFile(folder, "no trace files (*.json, *.json.gz with traceEvents) in it",
                                 DIRECTORY_EXPECTED)
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


class _Args(msgspec.Struct, gc=False):
    """The arguments of an event that the analysis reads; msgspec skips all others unread.
    Missing ones default to NONE (integers) and NaN (numbers), which the columns take as is."""

    device: Any = NONE
    stream: Any = NONE
    correlation: Any = NONE
    external_id: Any = msgspec.field(name="External id", default=NONE)
    blocks_per_sm: Any = msgspec.field(name="blocks per SM", default=math.nan)
    occupancy: Any = msgspec.field(name="est. achieved occupancy %", default=math.nan)
    nbytes: Any = msgspec.field(name="bytes", default=NONE)


class _Event(msgspec.Struct, gc=False):
    ph: Any = None
    cat: Any = None
    name: Any = None
    pid: Any = None
    tid: Any = None
    ts: Any = None
    dur: Any = None
    args: _Args | None = None


class _Document(msgspec.Struct):
    traceEvents: list[_Event] | None = None  # noqa: N815 (the format's spelling)
    distributedInfo: dict[str, Any] | None = None  # noqa: N815
    deviceProperties: list[Any] | None = None  # noqa: N815


_DECODER = msgspec.json.Decoder(_Document)


def read_trace(path: Path) -> Timeline:
    document = _load(path)
    if document.traceEvents is None:
        raise InvalidProfileFile(path, "JSON without a traceEvents list", EXPECTED)
    timeline = _columns(path, document.traceEvents)
    info = document.distributedInfo
    if info is not None:
        timeline.rank = _int_or_none(info.get("rank"))
        timeline.world_size = _int_or_none(info.get("world_size"))
    for device in document.deviceProperties or []:
        if isinstance(device, dict) and _int_or_none(device.get("id")) is not None:
            timeline.devices[int(device["id"])] = {k: v for k, v in device.items() if k != "id"}
    return timeline


def _load(path: Path) -> _Document:
    """The trace's events, decoded straight into small records of the fields the analysis reads
    (msgspec, typed decoding: the other fields, such as input shapes and call stacks, are skipped
    without building Python objects, which is most of the decoding time of a large trace)."""
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
        return _DECODER.decode(data)
    except msgspec.DecodeError as error:
        return _load_leniently(path, data, error)


def _load_leniently(path: Path, data: bytes, error: msgspec.DecodeError) -> _Document:
    """What the typed decoder refused: JSON with NaN or Infinity (Python's json writes them),
    or a document whose parts are not the types of the format (an event that is not an object,
    arguments that are not an object): parsed generically, the malformed parts dropped."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        raise InvalidProfileFile(path, f"not JSON ({error})", EXPECTED) from None
    if not isinstance(document, dict):
        raise InvalidProfileFile(path, f"JSON whose top level is a {type(document).__name__}, not an object",
                                 EXPECTED)
    events = document.get("traceEvents")
    if not isinstance(events, list):
        raise InvalidProfileFile(path, "JSON without a traceEvents list", EXPECTED)
    kept = []
    for event in events:
        if isinstance(event, dict):
            if not isinstance(event.get("args"), dict):
                event.pop("args", None)
            kept.append(event)
    return _Document(
        traceEvents=msgspec.convert(kept, list[_Event], strict=False),
        distributedInfo=document.get("distributedInfo") if isinstance(document.get("distributedInfo"), dict) else None,
        deviceProperties=document.get("deviceProperties") if isinstance(document.get("deviceProperties"), list)
        else None,
    )


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _ints(values: list[Any]) -> np.ndarray:
    """A column of integers; missing or unreadable values (``None``, ``"0x0"``) become NONE."""
    try:
        return np.array(values, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        return np.array([NONE if (v := _int_or_none(x)) is None else v for x in values], dtype=np.int64)


def _floats(values: list[Any]) -> np.ndarray:
    """A column of numbers; missing or non-numeric values become NaN."""
    try:
        return np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        return np.array([float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else math.nan
                         for x in values], dtype=np.float64)


def _columns(path: Path, events: list[_Event]) -> Timeline:
    """One pass sorting the events to the device or the host and naming them, then one column
    at a time (list comprehensions over the records: several times faster than one loop filling
    every column)."""
    names: list[str] = []
    ids: dict[str, int] = {}
    gpu: list[_Event] = []
    host: list[_Event] = []
    gpu_kind: list[int] = []
    host_kind: list[int] = []
    gpu_names: list[int] = []
    host_names: list[int] = []
    for event in events:
        if event.ph != "X" or type(event.cat) is not str:
            continue
        category = CATEGORIES.get(event.cat)
        if category is None:
            continue
        name = event.name if type(event.name) is str else str(event.name)
        name_id = ids.get(name)
        if name_id is None:
            name_id = ids[name] = len(names)
            names.append(name)
        if category[0]:
            gpu.append(event)
            gpu_kind.append(category[1])
            gpu_names.append(name_id)
        else:
            host.append(event)
            host_kind.append(category[1])
            host_names.append(name_id)
    gpu_args = [_NO_ARGS if e.args is None else e.args for e in gpu]
    host_args = [_NO_ARGS if e.args is None else e.args for e in host]
    return _timeline(path, names, {
        "kind": gpu_kind, "name": gpu_names, "ts": [e.ts for e in gpu], "dur": [e.dur for e in gpu],
        "pid": [e.pid for e in gpu], "device": [a.device for a in gpu_args], "stream": [a.stream for a in gpu_args],
        "correlation": [a.correlation for a in gpu_args], "external_id": [a.external_id for a in gpu_args],
        "blocks_per_sm": [a.blocks_per_sm for a in gpu_args], "occupancy": [a.occupancy for a in gpu_args],
        "nbytes": [a.nbytes for a in gpu_args],
    }, {
        "kind": host_kind, "name": host_names, "ts": [e.ts for e in host], "dur": [e.dur for e in host],
        "thread": [e.tid for e in host], "correlation": [a.correlation for a in host_args],
        "external_id": [a.external_id for a in host_args],
    })


_NO_ARGS = _Args()


def _timeline(path: Path, names: list[str], gpu: dict[str, list[Any]], host: dict[str, list[Any]]) -> Timeline:
    """Arrays from the column lists: times to integer ns from the trace's first whole
    microsecond; events without a finite ``ts``/``dur`` or with a negative duration left out."""
    gpu_ts, gpu_dur, host_ts, host_dur = (_floats(c) for c in (gpu["ts"], gpu["dur"], host["ts"], host["dur"]))
    gpu_ok = np.isfinite(gpu_ts) & np.isfinite(gpu_dur) & (gpu_dur >= 0)
    host_ok = np.isfinite(host_ts) & np.isfinite(host_dur) & (host_dur >= 0)
    starts = np.r_[gpu_ts[gpu_ok], host_ts[host_ok]]
    origin = math.floor(starts.min()) if starts.size else 0.0

    def ns(ts: np.ndarray, dur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        start = np.rint((ts - origin) * 1000.0).astype(np.int64)
        return start, start + np.rint(dur * 1000.0).astype(np.int64)

    start, end = ns(gpu_ts[gpu_ok], gpu_dur[gpu_ok])
    device = _ints(gpu["device"])
    # a device operation without args.device: kineto puts the device in pid
    device = np.where(device == NONE, _ints(gpu["pid"]), device)[gpu_ok]
    gpu_ops = GpuOps(kind=_ints(gpu["kind"])[gpu_ok], device=device, stream=_ints(gpu["stream"])[gpu_ok],
                     start=start, end=end, name=_ints(gpu["name"])[gpu_ok],
                     correlation=_ints(gpu["correlation"])[gpu_ok], external_id=_ints(gpu["external_id"])[gpu_ok],
                     blocks_per_sm=_floats(gpu["blocks_per_sm"])[gpu_ok],
                     occupancy=_floats(gpu["occupancy"])[gpu_ok], nbytes=_ints(gpu["nbytes"])[gpu_ok])
    start, end = ns(host_ts[host_ok], host_dur[host_ok])
    host_ops = HostOps(kind=_ints(host["kind"])[host_ok], thread=_ints(host["thread"])[host_ok], start=start, end=end,
                       name=_ints(host["name"])[host_ok], correlation=_ints(host["correlation"])[host_ok],
                       external_id=_ints(host["external_id"])[host_ok])
    timeline = Timeline("kineto", path, names, gpu_ops, host_ops)
    skipped = int((~gpu_ok).sum() + (~host_ok).sum())
    if skipped:
        first = next(i for i, ok in enumerate(np.r_[gpu_ok, host_ok]) if not ok)
        column = gpu if first < gpu_ok.size else host
        index = first if first < gpu_ok.size else first - gpu_ok.size
        timeline.warnings.append(
            f"{path.name}: skipped {skipped} event{'s' if skipped > 1 else ''} without a finite numeric ts and dur "
            f"or with a negative duration (first: {names[column['name'][index]]!r}, ts {column['ts'][index]!r}, "
            f"dur {column['dur'][index]!r})")
    return timeline
