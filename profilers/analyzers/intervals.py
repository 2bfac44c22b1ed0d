"""Length of a union of half-open ``[start, end)`` intervals.

Kernels on concurrent streams overlap, so the time a GPU is busy is the length of the union of
its kernel intervals, never the sum of their durations.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike

Window = tuple[int, int]


def merge(starts: ArrayLike, ends: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Merge intervals into disjoint, sorted ones (touching intervals become one).

    Vectorised: after sorting by start, the running maximum of the ends is the end of the
    merged interval so far; a new merged interval begins wherever a start lies beyond it.
    Empty intervals (end <= start) are dropped.
    """
    s = np.asarray(starts, dtype=np.int64)
    e = np.asarray(ends, dtype=np.int64)
    keep = e > s
    s, e = s[keep], e[keep]
    if s.size == 0:
        return s, e
    order = np.argsort(s)  # ties in start order cannot change the union
    s, e = s[order], e[order]
    reach = np.maximum.accumulate(e)
    first = np.flatnonzero(np.r_[True, s[1:] > reach[:-1]])
    last = np.r_[first[1:] - 1, s.size - 1]
    return s[first], reach[last]


def union_length(starts: ArrayLike, ends: ArrayLike, window: Window | None = None) -> int:
    """Length of the union of the intervals, counting only the part inside ``window``."""
    s = np.asarray(starts, dtype=np.int64)
    e = np.asarray(ends, dtype=np.int64)
    if window is not None:
        s = np.maximum(s, window[0])
        e = np.minimum(e, window[1])
    merged_s, merged_e = merge(s, e)
    return int((merged_e - merged_s).sum())


def union_length_in_windows(starts: ArrayLike, ends: ArrayLike, windows: Iterable[Window]) -> int:
    """Length of the union of the intervals inside any of ``windows`` (which may overlap)."""
    window_list = list(windows)
    w_s, w_e = merge([w[0] for w in window_list], [w[1] for w in window_list])
    return sum(union_length(starts, ends, (int(a), int(b))) for a, b in np.column_stack((w_s, w_e)))
