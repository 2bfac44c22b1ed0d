"""Communication against computation, per rank, and the spread of step times across ranks.

* Overlap (HTA's ``get_comm_comp_overlap``): the share of a rank's communication-kernel time
  (union) during which a computation kernel (union, see :mod:`.hta`) runs as well.
* Exposed communication per step: communication-kernel time with no computation beside it,
  averaged over the steps, as a share of the step time.
* Spread: (slowest - fastest) / mean of the ranks' mean step times; the slowest rank is named.
"""

from __future__ import annotations

import numpy as np

from . import ranges
from .hta import NOT_COMPUTE
from .model import KERNEL, Timeline
from .steps import Steps, communication_kernels


def communication_overlap(timeline: Timeline, kept: np.ndarray, steps: Steps) -> dict[str, float | None]:
    gpu = timeline.gpu
    comm_mask = kept & communication_kernels(timeline)
    comm = ranges.union(gpu.start[comm_mask], gpu.end[comm_mask])
    if comm[0].size == 0:
        return {"comm_time_ns": 0, "comm_overlap_share": None, "exposed_comm_share": None}
    compute_mask = kept & (gpu.kind == KERNEL) & ~comm_mask & timeline.named(
        gpu.name, lambda n: NOT_COMPUTE.match(n) is None)
    compute = ranges.union(gpu.start[compute_mask], gpu.end[compute_mask])
    overlap = ranges.total(ranges.intersect(comm, compute))
    exposed = ranges.subtract(comm, compute)
    step_exposed = [ranges.length_in(exposed, s, e) for s, e in steps.spans]
    step_time = sum(e - s for s, e in steps.spans)
    return {
        "comm_time_ns": ranges.total(comm),
        "comm_overlap_share": overlap / ranges.total(comm),
        "exposed_comm_share": sum(step_exposed) / step_time if step_time else None,
    }


def step_spread(mean_step_ns: dict[int, float]) -> dict[str, float | int | None]:
    if len(mean_step_ns) < 2:
        return {}
    values = np.array(list(mean_step_ns.values()), dtype=np.float64)
    slowest = max(mean_step_ns, key=mean_step_ns.__getitem__)
    return {"step_time_spread": float((values.max() - values.min()) / values.mean()), "slowest_rank": int(slowest),
            "slowest_step_ns": float(values.max()), "fastest_step_ns": float(values.min())}
