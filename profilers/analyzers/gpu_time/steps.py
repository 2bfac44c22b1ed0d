"""The step-time breakdown of TensorBoard's profiler plugin, and our phases within a step.

Definitions (torch-tb-profiler 0.4.3, ``event_parser.StepParser`` and ``overall_parser``):

* Steps are the ``ProfilerStep#N`` ranges; without any, one step from the first to the last
  CPU operator. When the steps launched GPU work, each step is moved to the device: it ends
  when the last operation launched from inside it ends (if later than its host end), the next
  step starts no earlier than that, and the first starts no earlier than the end of device work
  launched before it. Trailing steps that launched nothing, and a last step that launched
  under 80% of what the one before it did, are dropped (the profiler cut them short).
* Categories, in priority order: kernel, memcpy, memset, communication, runtime, data loader,
  CPU exec, other. Each category's time is the union of its ranges minus what a category
  before it already took, inside the step; ``other`` is the step time nobody took.
  Kernel = kernels on any GPU, except communication kernels (launched by a ``nccl:``/``gloo:``
  collective, or named ``nccl*Kernel``); communication = those kernels and the collectives'
  CPU ranges; runtime = CUDA/HIP runtime and driver calls; data loader =
  ``enumerate(DataLoader)#...__next__``, ``enumerate(DataPipe)#...`` and our
  ``dnn_suite.data_wait`` phase; CPU exec = CPU operators.
* Shares: each category's time averaged over the steps, divided by the average step time.

Where ours differ by design from torch-tb-profiler 0.4.3:

* It knows the runtime category only by its old name ``Runtime``; traces since PyTorch 1.10
  write ``cuda_runtime``/``cuda_driver``, which it ignores (no runtime share, steps never moved
  to the device). We read both names.
* It drops every ``user_annotation`` except ProfilerStep and the collectives, so a
  ``user_annotation`` ``enumerate(DataLoader)#...__next__`` is no data loading there; for us it is.
* It makes a ``gpu_user_annotation`` named ``ProfilerStep#N`` a step of its own; we take the
  steps from the host's ProfilerStep ranges only.
* A kernel named ``nccl*Kernel`` is communication for us whatever launched it (as HTA classes
  it); TB counts a kernel as communication only when its External id is that of a CPU op named
  exactly ``nccl:``/``gloo:`` + broadcast/reduce/all_reduce/all_gather/reduce_scatter, so the
  NCCL kernels of ``nccl:all_to_all``, ``nccl:_all_gather_base``, point-to-point calls etc. are
  Kernel there. Time moves only among the device categories: from kernel to communication, and
  copies/sets running under such a kernel are memcpy/memset for us (communication ranks below
  them) where TB counts them as kernel; the four together are the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from . import ranges
from .model import (ANNOTATION, CPU_OP, KERNEL, MEMCPY, MEMSET, PHASE_PREFIX, RUNTIME, STEP_PREFIX, WINDOW_RANGE,
                    Timeline, distinct)

CATEGORIES = ("kernel", "memcpy", "memset", "communication", "runtime", "dataloader", "cpu_exec", "other")
COLLECTIVES = re.compile(r"^(nccl|gloo):(broadcast|reduce|all_reduce|all_gather|reduce_scatter)$")
COMM_KERNEL = re.compile(r"^nccl.*Kernel|^ncclDevKernel|^rccl")
DATA_LOADER = re.compile(r"^enumerate\(DataLoader\)#.*\.__next__$|^enumerate\(DataPipe\)#|^dnn_suite\.data_wait$")
TAIL_RATIO = 0.8


@dataclass
class Steps:
    names: list[str]
    host: list[tuple[int, int]]
    spans: list[tuple[int, int]]
    on_device: bool
    dropped: int = 0
    breakdown: list[dict[str, int]] = field(default_factory=list)

    @property
    def average(self) -> dict[str, float]:
        if not self.breakdown:
            return {}
        return {key: float(np.mean([b[key] for b in self.breakdown])) for key in (*CATEGORIES, "total")}

    def shares(self) -> dict[str, float | None]:
        average = self.average
        total = average.get("total")
        return {key: (average[key] / total if total else None) for key in CATEGORIES}


def communication_kernels(timeline: Timeline) -> np.ndarray:
    """Mask of the GPU kernels that are communication: launched by a collective, or NCCL's."""
    gpu, host = timeline.gpu, timeline.host
    collectives = timeline.named(host.name, lambda n: COLLECTIVES.match(n) is not None)
    by_launcher = np.isin(gpu.external_id, host.external_id[collectives & (host.external_id >= 0)])
    return (gpu.kind == KERNEL) & (by_launcher | timeline.named(gpu.name, lambda n: COMM_KERNEL.match(n) is not None))


def find_steps(timeline: Timeline) -> Steps:
    host = timeline.host
    is_step = np.isin(host.kind, (ANNOTATION, CPU_OP)) & timeline.named(host.name, lambda n: n.startswith(STEP_PREFIX))
    order = np.flatnonzero(is_step)[np.argsort(host.start[is_step], kind="stable")]
    names = [timeline.names[i] for i in host.name[order].tolist()]
    spans = list(zip(host.start[order].tolist(), host.end[order].tolist()))
    if not spans:
        cpu = host.kind == CPU_OP
        if not cpu.any():
            return Steps([], [], [], False)
        spans = [(int(host.start[cpu].min()), int(host.end[cpu].max()))]
        names = ["0"]
    steps = Steps(names, list(spans), list(spans), False)
    _move_to_device(timeline, steps)
    return steps


def _move_to_device(timeline: Timeline, steps: Steps) -> None:
    """TensorBoard's ``_find_device_steps`` and ``_update_steps_duration``."""
    host, gpu = timeline.host, timeline.gpu
    launcher = timeline.launch_calls()
    launched = launcher >= 0
    if not launched.any():
        return
    call_start = host.start[launcher[launched]]
    call_end = host.end[launcher[launched]]
    op_start, op_end = gpu.start[launched], gpu.end[launched]
    device_spans: list[tuple[int, int] | None] = []
    counts: list[int] = []
    matched = np.zeros(op_start.size, dtype=bool)
    for start, end in steps.host:
        inside = (call_start >= start) & (call_end <= end)
        matched |= inside
        counts.append(int(inside.sum()))
        device_spans.append((int(op_start[inside].min()), int(op_end[inside].max())) if inside.any() else None)
    if not matched.any():
        return
    previous_end = steps.host[0][0]
    if device_spans[0] is not None:
        # device work launched outside every step that ended before step 0's device work began
        unmatched_all = np.ones(len(gpu), dtype=bool)
        unmatched_all[np.flatnonzero(launched)[matched]] = False
        before = unmatched_all & (gpu.end < device_spans[0][0])
        if before.any():
            previous_end = max(previous_end, int(gpu.end[before].max()))
    spans = []
    for (start, end), device in zip(steps.host, device_spans):
        start = max(previous_end, start)
        end = max(end, start) if device is None else max(end, device[1], start)
        spans.append((start, end))
        previous_end = end
    keep = len(spans)
    if len(spans) > 1:
        last = max((i for i, c in enumerate(counts) if c > 0), default=-1)
        if last >= 0:
            keep = last + 1
            if last > 0 and counts[last - 1] * TAIL_RATIO > counts[last]:
                keep = last
    steps.dropped = len(spans) - keep
    steps.spans, steps.names, steps.host = spans[:keep], steps.names[:keep], steps.host[:keep]
    steps.on_device = True


def category_ranges(timeline: Timeline) -> dict[str, ranges.Ranges]:
    host, gpu = timeline.host, timeline.gpu
    comm_kernels = communication_kernels(timeline)
    collectives = timeline.named(host.name, lambda n: COLLECTIVES.match(n) is not None)
    loader = timeline.named(host.name, lambda n: DATA_LOADER.match(n) is not None)
    steps = timeline.named(host.name, lambda n: n.startswith(STEP_PREFIX))
    phases = timeline.named(host.name, lambda n: n.startswith(PHASE_PREFIX))

    def of(mask: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> ranges.Ranges:
        return ranges.union(starts[mask], ends[mask])

    host_ops = np.isin(host.kind, (CPU_OP, ANNOTATION))
    comm = ranges.union(np.r_[gpu.start[comm_kernels], host.start[collectives & host_ops]],
                        np.r_[gpu.end[comm_kernels], host.end[collectives & host_ops]])
    return {
        "kernel": of((gpu.kind == KERNEL) & ~comm_kernels, gpu.start, gpu.end),
        "memcpy": of(gpu.kind == MEMCPY, gpu.start, gpu.end),
        "memset": of(gpu.kind == MEMSET, gpu.start, gpu.end),
        "communication": comm,
        "runtime": of(host.kind == RUNTIME, host.start, host.end),
        "dataloader": of(host_ops & loader, host.start, host.end),
        "cpu_exec": of((host.kind == CPU_OP) & ~loader & ~steps & ~collectives & ~phases, host.start, host.end),
    }


def breakdown(timeline: Timeline, steps: Steps) -> None:
    """Fill ``steps.breakdown``: per step, nanoseconds per category (priority order) and total."""
    by_category = category_ranges(timeline)
    for start, end in steps.spans:
        free: ranges.Ranges = (np.array([start], dtype=np.int64), np.array([end], dtype=np.int64))
        row: dict[str, int] = {}
        for name in CATEGORIES[:-1]:
            taken = ranges.intersect(free, ranges.clip(by_category[name], start, end))
            row[name] = ranges.total(taken)
            free = ranges.subtract(free, taken)
        row["other"] = ranges.total(free)
        row["total"] = end - start
        steps.breakdown.append(row)


def phases(timeline: Timeline, steps: Steps) -> list[dict]:
    """Per ``dnn_suite.<phase>`` range: host time and GPU busy time per step.

    The GPU time of a phase is the union of the device work launched from inside its ranges."""
    host, gpu = timeline.host, timeline.gpu
    is_phase = timeline.named(host.name, lambda n: n.startswith(PHASE_PREFIX)) & (host.kind == ANNOTATION)
    if not is_phase.any() or not steps.spans:
        return []
    launcher = timeline.launch_calls()
    launched = launcher >= 0
    first, last = steps.spans[0][0], steps.spans[-1][1]
    count = len(steps.spans)
    step_time = float(np.mean([e - s for s, e in steps.spans]))
    rows = []
    for name_id in distinct(host.name[is_phase]):
        name = timeline.names[name_id]
        if name == WINDOW_RANGE:
            continue
        mask = is_phase & (host.name == name_id) & (host.start >= first) & (host.start < last)
        own = ranges.union(host.start[mask], host.end[mask])
        host_ns = ranges.total(own)
        row = {"phase": name[len(PHASE_PREFIX):], "host_ns_per_step": host_ns / count,
               "host_share": host_ns / count / step_time if step_time else None}
        if launched.any():
            call_start = host.start[launcher[launched]]
            inside = np.zeros(call_start.size, dtype=bool)
            index = np.searchsorted(own[0], call_start, side="right") - 1
            valid = index >= 0
            inside[valid] = call_start[valid] < own[1][index[valid]]
            ops = np.flatnonzero(launched)[inside]
            busy = ranges.total(ranges.union(gpu.start[ops], gpu.end[ops]))
            row["gpu_busy_ns_per_step"] = busy / count
        rows.append(row)
    return rows
