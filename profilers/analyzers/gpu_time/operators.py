"""Where a CPU run's host time goes: the CPU operators' self time by category.

Self time of an operator = its duration minus that of the operators directly nested in it on
the same thread (kineto records nesting only by time). Category by operator name, first match:
optimizer (``Optimizer.step``, ``_foreach_*``), matmul/convolution, normalization, reduction
(softmax, losses, pooling), memory (copies, concatenation, allocation, layout and views),
elementwise, other. Computed for traces without GPU activity, where the host is the whole story.
"""

from __future__ import annotations

import re

import numpy as np

from .model import CPU_OP, Timeline

OPERATOR_CATEGORIES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("optimizer", re.compile(r"^Optimizer\.|_foreach_|^aten::(sgd|adam|_fused_)", re.I)),
    ("matmul_conv", re.compile(r"conv|addmm|matmul|\bmm\b|::mm|bmm|linear|Mm|baddbmm", re.I)),
    ("normalization", re.compile(r"norm", re.I)),
    ("reduction", re.compile(r"sum|mean|softmax|max|min|nll_loss|cross_entropy|pool|argmax|argmin|cumsum|topk",
                             re.I)),
    ("memory", re.compile(r"copy|::to$|_to_copy|contiguous|clone|cat$|::cat|stack|empty|zeros|ones|view|reshape|"
                          r"permute|transpose|index|slice|select|pad|expand|unsqueeze|squeeze|flatten|as_strided|"
                          r"resize|set_", re.I)),
    ("elementwise", re.compile(r"add|mul|sub|div|relu|silu|sigmoid|gelu|tanh|where|clamp|fill|neg|exp|log|pow|sqrt|"
                               r"rsqrt|abs|threshold|dropout|swish|hardtanh|lerp|addcmul|addcdiv", re.I)),
)


def operator_category(name: str) -> str:
    return next((category for category, pattern in OPERATOR_CATEGORIES if pattern.search(name)), "other")


def self_times(timeline: Timeline) -> tuple[np.ndarray, np.ndarray]:
    """(row indices of the CPU operators, their self times in ns)."""
    host = timeline.host
    rows = np.flatnonzero(host.kind == CPU_OP)
    rows = rows[np.lexsort((-host.end[rows], host.start[rows], host.thread[rows]))]
    starts, ends, threads = host.start[rows].tolist(), host.end[rows].tolist(), host.thread[rows].tolist()
    own = [e - s for s, e in zip(starts, ends)]
    stack: list[int] = []  # positions of the open operators on the current thread
    thread = None
    for position, (start, end, current) in enumerate(zip(starts, ends, threads)):
        if current != thread:
            stack, thread = [], current
        while stack and ends[stack[-1]] <= start:
            stack.pop()
        if stack:
            own[stack[-1]] -= end - start
        stack.append(position)
    return rows, np.maximum(np.array(own, dtype=np.int64), 0)


def operator_categories(timeline: Timeline) -> list[dict]:
    rows, own = self_times(timeline)
    if not rows.size:
        return []
    by_name = np.bincount(timeline.host.name[rows], weights=own, minlength=len(timeline.names))
    totals: dict[str, float] = {}
    for name_id in np.flatnonzero(by_name).tolist():
        category = operator_category(timeline.names[name_id])
        totals[category] = totals.get(category, 0.0) + float(by_name[name_id])
    grand = sum(totals.values())
    return [{"category": c, "self_time_ns": int(t), "share": t / grand if grand else None}
            for c, t in sorted(totals.items(), key=lambda item: -item[1])]
