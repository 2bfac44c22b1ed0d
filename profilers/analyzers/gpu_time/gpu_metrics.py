"""TensorBoard's GPU utilization, estimated SM efficiency and estimated achieved occupancy.

Definitions (torch-tb-profiler 0.4.3, ``gpu_metrics_parser.GPUMetricsParser``), per GPU, over
the span from the first step's start to the last step's end (see :mod:`.steps`):

* utilization = union of the GPU's kernels inside the span / span (copies and sets excluded);
* estimated SM efficiency = time integral of min(1, sum of ``blocks per SM`` of the kernels
  running at that moment) over the span / span: a kernel with fewer blocks than SMs leaves SMs
  idle, concurrent kernels fill them;
* estimated achieved occupancy = mean of the kernels' ``est. achieved occupancy %`` weighted by
  their time inside the span.

The two estimates need kineto's per-kernel ``blocks per SM`` and ``est. achieved occupancy %``;
Nsight Systems and nvprof exports do not carry them, and there they are n/a.
"""

from __future__ import annotations

import numpy as np

from . import ranges
from .model import KERNEL, Timeline, distinct


def gpu_metrics(timeline: Timeline, start: int, end: int) -> dict[int, dict[str, float | None]]:
    gpu = timeline.gpu
    span = end - start
    result: dict[int, dict[str, float | None]] = {}
    kernels = gpu.kind == KERNEL
    for device in distinct(gpu.device[kernels]):
        on = kernels & (gpu.device == device)
        busy = ranges.length_in(ranges.union(gpu.start[on], gpu.end[on]), start, end)
        result[int(device)] = {
            "utilization_pct": 100.0 * busy / span if span > 0 else None,
            "sm_efficiency_pct": _sm_efficiency(gpu.start[on], gpu.end[on], gpu.blocks_per_sm[on], start, end),
            "achieved_occupancy_pct": _occupancy(gpu.start[on], gpu.end[on], gpu.occupancy[on], start, end),
        }
    return result


def _sm_efficiency(starts: np.ndarray, ends: np.ndarray, blocks: np.ndarray, start: int, end: int) -> float | None:
    keep = blocks > 0  # NaN compares false: kernels without the estimate are left out
    if not keep.any() or end <= start:
        return None
    times = np.r_[starts[keep], ends[keep]]
    deltas = np.r_[blocks[keep], -blocks[keep]]
    order = np.lexsort((np.r_[np.zeros(keep.sum()), np.ones(keep.sum())], times))  # starts before ends at ties
    times, level = times[order], np.cumsum(deltas[order])
    lo, hi = np.clip(times[:-1], start, end), np.clip(times[1:], start, end)
    value = np.minimum(level[:-1], 1.0)
    value[level[:-1] <= 1e-12] = 0.0
    return 100.0 * float(((hi - lo) * value).sum()) / (end - start)


def _occupancy(starts: np.ndarray, ends: np.ndarray, occupancy: np.ndarray, start: int, end: int) -> float | None:
    keep = occupancy >= 0
    durations = np.minimum(ends[keep], end) - np.maximum(starts[keep], start)
    inside = durations > 0
    if not inside.any():
        return None
    return float((occupancy[keep][inside] * durations[inside]).sum() / durations[inside].sum())
