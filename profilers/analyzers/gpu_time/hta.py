"""HTA's temporal breakdown and idle-time breakdown, per GPU.

Definitions (HolisticTraceAnalysis 0.5, ``BreakdownAnalysis.get_temporal_breakdown`` and
``get_idle_time_breakdown``):

* Which operations: those on a stream (kernels, copies, sets; HTA's temporal breakdown also
  counts stream synchronization waits) that were launched before the last profiler step began,
  when the trace has two steps or more (HTA drops the last step, which the profiler may have cut).
* Temporal breakdown over the span from the first operation's start to the last one's end:
  ``compute`` = union of the computation kernels (not ``nccl*Kernel``, not a memory copy or set,
  not a ``*Sync`` wait); ``idle`` = span minus the union of all the operations;
  ``non_compute`` = the rest (copies, sets, communication kernels where no computation runs).
* Idle-time breakdown, per stream: each gap between one operation's end and the next one's start
  on the same stream is *host wait* when the next operation's launch call started after the
  previous operation ended (the GPU waited for the CPU), else *kernel wait* when the gap is
  shorter than the consecutive-kernel threshold (launch overhead between back-to-back kernels),
  else *other*. HTA's default threshold is 30 in the trace's units (microseconds). Summed over
  a GPU's streams, each cause is given as a share of that GPU's summed stream idle time.

Where ours differ by design: times are exact nanoseconds (HTA rounds fractional-microsecond
events inwards to whole microseconds unless HTA_DISABLE_NS_ROUNDING is set), and the figures are
per GPU (HTA's are per rank; one GPU per rank makes them equal).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from . import ranges
from .model import KERNEL, MEMCPY, MEMSET, NONE, RUNTIME, STEP_PREFIX, Timeline, distinct

KERNEL_WAIT_THRESHOLD_NS = 30_000
NOT_COMPUTE = re.compile(r"(^nccl.*Kernel)|(.*Memcpy)|(^Memset)|(.*Sync)")


def last_step_start(timeline: Timeline) -> int | None:
    """Start of the last profiler step when the trace has two or more, else None."""
    host = timeline.host
    steps = timeline.named(host.name, lambda n: n.startswith(STEP_PREFIX))
    if len(set(host.name[steps].tolist())) < 2:
        return None
    return int(host.start[steps].max())


def kept_operations(timeline: Timeline) -> np.ndarray:
    """Mask of the GPU operations HTA analyses: on a stream, launched before the last step."""
    gpu = timeline.gpu
    keep = gpu.stream != NONE
    cutoff = last_step_start(timeline)
    if cutoff is not None:
        host = timeline.host
        early = (host.kind == RUNTIME) & (host.start < cutoff) & (host.correlation != NONE)
        keep &= np.isin(gpu.correlation, host.correlation[early])
    return keep


@dataclass(frozen=True)
class TemporalBreakdown:
    span_ns: int
    idle_ns: int
    compute_ns: int
    non_compute_ns: int

    def pct(self, part: int) -> float | None:
        return 100.0 * part / self.span_ns if self.span_ns else None


def temporal_breakdown(timeline: Timeline, kept: np.ndarray) -> dict[int, TemporalBreakdown]:
    gpu = timeline.gpu
    compute_names = timeline.named(gpu.name, lambda n: NOT_COMPUTE.match(n) is None)
    result: dict[int, TemporalBreakdown] = {}
    for device in distinct(gpu.device[kept]):
        on = kept & (gpu.device == device)
        busy = ranges.union(gpu.start[on], gpu.end[on])
        if busy[0].size == 0:
            continue
        span = int(busy[1][-1] - busy[0][0])
        compute_mask = on & (gpu.kind == KERNEL) & compute_names
        compute = ranges.total(ranges.union(gpu.start[compute_mask], gpu.end[compute_mask]))
        idle = span - ranges.total(busy)
        result[int(device)] = TemporalBreakdown(span, idle, compute, span - idle - compute)
    return result


@dataclass(frozen=True)
class IdleBreakdown:
    host_wait_ns: int
    kernel_wait_ns: int
    other_ns: int

    @property
    def idle_ns(self) -> int:
        return self.host_wait_ns + self.kernel_wait_ns + self.other_ns

    def share(self, part: int) -> float | None:
        return part / self.idle_ns if self.idle_ns else None


def idle_breakdown(
    timeline: Timeline, kept: np.ndarray, threshold_ns: int = KERNEL_WAIT_THRESHOLD_NS
) -> tuple[dict[int, IdleBreakdown], list[dict]]:
    """Per GPU, and the per-stream rows HTA reports."""
    gpu, host = timeline.gpu, timeline.host
    ops = kept & np.isin(gpu.kind, (KERNEL, MEMCPY, MEMSET))
    launcher = timeline.launch_calls()
    launch_start = np.where(launcher >= 0, host.start[np.maximum(launcher, 0)], NONE) if len(host) else launcher
    per_device: dict[int, list[int]] = {}
    rows: list[dict] = []
    for device, stream in sorted({(int(d), int(s)) for d, s in zip(gpu.device[ops], gpu.stream[ops])}):
        index = np.flatnonzero(ops & (gpu.device == device) & (gpu.stream == stream))
        index = index[np.argsort(gpu.start[index], kind="stable")]
        if index.size < 2:
            continue
        prev_end = gpu.end[index[:-1]]
        gap = gpu.start[index[1:]] - prev_end
        launched = launch_start[index[1:]]
        host_wait = (launched != NONE) & (launched > prev_end)
        kernel_wait = ~host_wait & (gap < threshold_ns)
        other = ~host_wait & ~kernel_wait
        parts = [int(gap[host_wait].sum()), int(gap[kernel_wait].sum()), int(gap[other].sum())]
        totals = per_device.setdefault(device, [0, 0, 0])
        for i, value in enumerate(parts):
            totals[i] += value
        idle = sum(parts)
        rows.append({"device": device, "stream": stream, "idle_ns": idle, "host_wait_ns": parts[0],
                     "kernel_wait_ns": parts[1], "other_ns": parts[2],
                     "host_wait_share": parts[0] / idle if idle else None})
    return {d: IdleBreakdown(*v) for d, v in per_device.items()}, rows
