"""The batch-size memory model: memory = fixed + per-sample x batch size, per category.

Weights, gradients, optimizer state and workspace do not depend on the batch; activations
(tensors saved for backward) grow with it. Fitted by least squares (``numpy.polyfit``) from
two or more batch sizes' peak breakdowns, from a sweep (one run per batch size) or from the
batch sizes one run tracked; checked against a batch size that was not used for fitting.
Shared by the memory profiler (one run) and ``dnn-suite report`` (a sweep), so the core
holds it and knows no profiler by name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TOTAL = "total"
FILE_FORMAT = "dnn-suite memory breakdown"
"""The ``format`` field of the memory profiler's ``memory.json`` (written and analyzed by the
memory profiler plugin, read by ``dnn-suite report``); its categories and phases:"""
CATEGORIES = ("parameters", "buffers", "gradients", "optimizer_state", "activations", "temporaries", "other")
PHASES = ("after_forward", "after_backward", "after_optimizer_step")


@dataclass(frozen=True)
class Line:
    fixed: float
    """bytes"""
    per_sample: float
    """bytes per sample"""

    def at(self, batch_size: int) -> float:
        return self.fixed + self.per_sample * batch_size


@dataclass(frozen=True)
class BatchModel:
    """One :class:`Line` per category (and ``total``), fitted from ``batch_sizes``."""

    lines: dict[str, Line]
    batch_sizes: tuple[int, ...]

    def predict(self, batch_size: int) -> float:
        return self.lines[TOTAL].at(batch_size)

    def largest_batch(self, capacity_bytes: float) -> int | None:
        """The largest batch size whose predicted total fits ``capacity_bytes`` (None when the
        total does not grow with the batch, or not even a batch of one fits)."""
        line = self.lines[TOTAL]
        if line.per_sample <= 0:
            return None
        largest = math.floor((capacity_bytes - line.fixed) / line.per_sample)
        return largest if largest >= 1 else None

    def error(self, batch_size: int, measured_total: float) -> float:
        """Relative error of the predicted total against a measured one (0.05 = 5% too high)."""
        return (self.predict(batch_size) - measured_total) / measured_total


def fit(peaks: dict[int, dict[str, float]]) -> BatchModel:
    """Fit every category present in all of ``peaks`` (batch size -> category -> bytes at the
    peak, with ``total``); needs two distinct batch sizes."""
    sizes = sorted(peaks)
    if len(sizes) < 2:
        raise ValueError(f"fitting memory against batch size needs two batch sizes, got {sizes}")
    categories = [c for c in peaks[sizes[0]] if all(c in peaks[b] for b in sizes)]
    lines = {}
    for category in categories:
        slope, intercept = np.polyfit(sizes, [peaks[b][category] for b in sizes], 1)
        lines[category] = Line(round(float(intercept), 3), round(float(slope), 3))  # no sub-byte noise
    return BatchModel(lines, tuple(sizes))


def fit_with_holdout(peaks: dict[int, dict[str, float]]) -> tuple[BatchModel, int | None]:
    """Fit on every batch size but the largest, which checks the fit (the model exists to
    extrapolate to larger batches); with only two sizes both are fitted and none is held out."""
    sizes = sorted(peaks)
    if len(sizes) < 3:
        return fit(peaks), None
    held_out = sizes[-1]
    return fit({b: peaks[b] for b in sizes[:-1]}), held_out


def fit_tracked(peaks: dict[int, dict[str, float]], fit_sizes: list[int]) -> tuple[BatchModel | None, int | None]:
    """One run's fit: over the tracked batch sizes named in ``fit_sizes`` (None with fewer
    than two), checked at the largest tracked batch size that is not among them (if any)."""
    sizes = sorted(set(fit_sizes) & set(peaks))
    if len(sizes) < 2:
        return None, None
    held_out = next((b for b in sorted(peaks, reverse=True) if b not in sizes), None)
    return fit({b: peaks[b] for b in sizes}), held_out
