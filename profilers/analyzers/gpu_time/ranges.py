"""Operations on sets of half-open ``[start, end)`` ranges held as two sorted, disjoint arrays.

Every breakdown in this package is a sum over unions, intersections and differences of such
sets (kernels on several streams overlap; a step is a range; a category owns what the
categories before it left free), so the operations live here once, vectorised.
"""

from __future__ import annotations

import numpy as np

from ..intervals import merge

Ranges = tuple[np.ndarray, np.ndarray]
EMPTY: Ranges = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))


def union(starts: np.ndarray, ends: np.ndarray) -> Ranges:
    return merge(starts, ends)


def total(ranges: Ranges) -> int:
    return int((ranges[1] - ranges[0]).sum())


def clip(ranges: Ranges, start: int, end: int) -> Ranges:
    s = np.maximum(ranges[0], start)
    e = np.minimum(ranges[1], end)
    keep = e > s
    return s[keep], e[keep]


def intersect(a: Ranges, b: Ranges) -> Ranges:
    """The ranges covered by both (each input disjoint and sorted)."""
    if a[0].size == 0 or b[0].size == 0:
        return EMPTY
    # For every range of a, the ranges of b that may overlap it: those from the first b ending
    # after a's start to the last b starting before a's end.
    first = np.searchsorted(b[1], a[0], side="right")
    last = np.searchsorted(b[0], a[1], side="left")
    counts = np.maximum(last - first, 0)
    if counts.sum() == 0:
        return EMPTY
    a_index = np.repeat(np.arange(a[0].size), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    b_index = np.repeat(first, counts) + offsets
    s = np.maximum(a[0][a_index], b[0][b_index])
    e = np.minimum(a[1][a_index], b[1][b_index])
    keep = e > s
    return s[keep], e[keep]


def subtract(a: Ranges, b: Ranges) -> Ranges:
    """The ranges of ``a`` not covered by ``b``."""
    if a[0].size == 0 or b[0].size == 0:
        return a
    lo = min(int(a[0].min()), int(b[0].min()))
    hi = max(int(a[1].max()), int(b[1].max()))
    # complement of b inside [lo, hi], intersected with a
    gaps_s = np.r_[lo, b[1]]
    gaps_e = np.r_[b[0], hi]
    keep = gaps_e > gaps_s
    return intersect(a, (gaps_s[keep], gaps_e[keep]))


def length_in(ranges: Ranges, start: int, end: int) -> int:
    return total(clip(ranges, start, end))
