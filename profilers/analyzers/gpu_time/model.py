"""One model of a GPU timeline, whatever tool recorded it (kineto, Nsight Systems, nvprof).

Every reader turns its format into a :class:`Timeline`; every figure of "where the GPU time
goes" is computed from it once (the sibling modules). Times are integer nanoseconds on one
clock per timeline; intervals are half-open ``[start, end)``. Columns are numpy arrays, one row
an event, names as ids into ``Timeline.names`` (a trace has few distinct names and many events).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# GpuOps.kind
KERNEL, MEMCPY, MEMSET, SYNC = 0, 1, 2, 3
# HostOps.kind
CPU_OP, RUNTIME, ANNOTATION = 0, 1, 2
NONE = -1  # a missing integer (correlation, external id, stream, bytes)

STEP_PREFIX = "ProfilerStep#"
PHASE_PREFIX = "dnn_suite."
WINDOW_RANGE = "dnn_suite.window"  # a measured window of our runs: not a phase


@dataclass(frozen=True)
class GpuOps:
    """Activities on the device timeline: kernels, copies, sets and synchronization waits.

    ``blocks_per_sm`` and ``occupancy`` (kineto's ``blocks per SM`` and ``est. achieved
    occupancy %``) are NaN where the tool does not record them; ``nbytes`` is -1 for kernels.
    """

    kind: np.ndarray
    device: np.ndarray
    stream: np.ndarray
    start: np.ndarray
    end: np.ndarray
    name: np.ndarray
    correlation: np.ndarray
    external_id: np.ndarray
    blocks_per_sm: np.ndarray
    occupancy: np.ndarray
    nbytes: np.ndarray

    def __len__(self) -> int:
        return int(self.start.size)


@dataclass(frozen=True)
class HostOps:
    """Host-side ranges: operators, runtime/driver API calls, user annotations (profiler steps,
    ``record_function`` ranges, NVTX ranges)."""

    kind: np.ndarray
    thread: np.ndarray
    start: np.ndarray
    end: np.ndarray
    name: np.ndarray
    correlation: np.ndarray
    external_id: np.ndarray

    def __len__(self) -> int:
        return int(self.start.size)


@dataclass
class Timeline:
    """One process's recorded timeline (one rank of a distributed job)."""

    tool: str
    source: Path
    names: list[str]
    gpu: GpuOps
    host: HostOps
    rank: int | None = None
    world_size: int | None = None
    devices: dict[int, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def launch_calls(self) -> np.ndarray:
        """For each GPU operation, the index in ``host`` of the runtime call that launched it
        (same correlation id), or -1. Computed once per timeline."""
        cached = getattr(self, "_launch_calls", None)
        if cached is not None:
            return cached
        host, gpu = self.host, self.gpu
        calls = np.flatnonzero((host.kind == RUNTIME) & (host.correlation != NONE))
        calls = calls[np.argsort(host.correlation[calls], kind="stable")]
        keys = host.correlation[calls]
        result = np.full(len(gpu), -1, dtype=np.int64)
        if keys.size:
            where = np.minimum(np.searchsorted(keys, gpu.correlation), keys.size - 1)
            found = (gpu.correlation != NONE) & (keys[where] == gpu.correlation)
            result[found] = calls[where[found]]
        self._launch_calls = result
        return result

    def name_ids(self, predicate) -> np.ndarray:
        """Ids of the names for which ``predicate(name)`` holds (to test a column with np.isin)."""
        return np.array([i for i, name in enumerate(self.names) if predicate(name)], dtype=np.int64)

    def named(self, column: np.ndarray, predicate) -> np.ndarray:
        """Mask of the rows of ``column`` (name ids) whose name satisfies ``predicate``."""
        return np.isin(column, self.name_ids(predicate))


def distinct(values: np.ndarray) -> list[int]:
    """The distinct values, sorted. (``np.unique`` without its return options imports
    ``numpy.ma``, a third of a small trace's analysis time.)"""
    ordered = np.sort(values)
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]].tolist() if ordered.size else []


def build_gpu_ops(rows: list[tuple]) -> GpuOps:
    """From rows ``(kind, device, stream, start, end, name, correlation, external_id,
    blocks_per_sm, occupancy, nbytes)``."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * 11
    ints = [np.array(c, dtype=np.int64) for c in columns[:8]]
    floats = [np.array(c, dtype=np.float64) for c in columns[8:10]]
    return GpuOps(*ints, *floats, np.array(columns[10], dtype=np.int64))


def build_host_ops(rows: list[tuple]) -> HostOps:
    """From rows ``(kind, thread, start, end, name, correlation, external_id)``."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * 7
    return HostOps(*(np.array(c, dtype=np.int64) for c in columns))
