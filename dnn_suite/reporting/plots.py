"""The report's plots as PNG bytes, drawn with matplotlib (the optional ``report`` extra).

Figures are made with ``matplotlib.figure.Figure`` on the Agg canvas, never through pyplot:
no GUI backend is chosen, no global figure state is kept, and the caller's matplotlib backend
is left alone. matplotlib is imported only when a plot is drawn, so the rest of the suite (and
the report's tables) work without it.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dnn_suite.reporting.install_hint import extra_install_command

DPI = 100
LABEL_CHARS = 48


def install_hint() -> str:
    return f"plots need matplotlib: {extra_install_command('report')}"


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class Series:
    label: str
    x: Sequence[float]
    y: Sequence[float]
    low: Sequence[float] | None = None
    """With ``high``: a shaded band around the line (e.g. min and max over CPU cores)."""
    high: Sequence[float] | None = None
    error: Sequence[float] | None = None
    """Error bars (e.g. the stdev of throughput over repeated windows)."""


@dataclass
class Axes:
    xlabel: str
    ylabel: str
    title: str = ""
    marks: dict[str, float] = field(default_factory=dict)
    """Vertical lines with a legend entry (e.g. median and p90)."""
    boundaries: Sequence[float] = ()
    """Unlabelled vertical dashed lines (e.g. where a measured window ends)."""
    ymin: float | None = None
    ymax: float | None = None
    log: bool = False
    """A logarithmic y axis."""
    xmax: float | None = None
    """With bars(): the end of the value axis (e.g. 100 for a percentage of peak)."""


def lines(series: Sequence[Series], axes: Axes, markers: bool = False) -> bytes:
    """One line per series; a missing value (None, e.g. the CPU figure of a window's first
    sample, which covers no interval) is a gap in its line."""
    figure, plot = _figure()
    for s in series:
        style = {"marker": "o"} if markers else {}
        y = _gaps(s.y)
        if s.error is not None:
            plot.errorbar(s.x, y, yerr=s.error, label=s.label, capsize=3, **style)
        else:
            plot.plot(s.x, y, label=s.label, linewidth=1.2, **style)
        if s.low is not None and s.high is not None:  # a missing bound (no reading yet) leaves a gap
            plot.fill_between(s.x, _gaps(s.low), _gaps(s.high), alpha=0.2)
    _finish(plot, axes)
    return _png(figure)


def _gaps(values: Sequence[float | None]) -> list[float]:
    return [math.nan if value is None else value for value in values]


def histogram(values: Sequence[float], axes: Axes, bins: int = 30) -> bytes:
    figure, plot = _figure()
    plot.hist(values, bins=min(bins, max(len(values), 1)), color="tab:blue", alpha=0.8)
    plot.yaxis.get_major_locator().set_params(integer=True)
    _finish(plot, axes)
    return _png(figure)


def bars(labels: Sequence[str], values: Sequence[float], axes: Axes) -> bytes:
    """Horizontal bars, the first label on top."""
    height = 1.2 + 0.32 * len(labels)
    figure, plot = _figure(height=max(height, 2.0), fit_labels=True)
    shown = [label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 3] + "..." for label in labels]
    positions = range(len(labels))[::-1]
    plot.barh(list(positions), values, color="tab:blue")
    plot.set_yticks(list(positions), shown, fontsize=8)
    _finish(plot, axes)
    return _png(figure)


def _figure(width: float = 7.5, height: float = 3.6, fit_labels: bool = False) -> tuple[Any, Any]:
    """A figure and its axes; ``fit_labels`` makes room for long tick labels (kernel names),
    which doubles the drawing time, so fixed margins are used otherwise."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained" if fit_labels else None)
    if not fit_labels:
        figure.subplots_adjust(left=0.1, right=0.97, top=0.9, bottom=0.14)
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _finish(plot: Any, axes: Axes) -> None:
    for position in axes.boundaries:
        plot.axvline(position, color="grey", linestyle=":", linewidth=1)
    for (label, position), color in zip(axes.marks.items(), ("tab:red", "tab:orange", "tab:green"), strict=False):
        plot.axvline(position, color=color, linestyle="--", linewidth=1.2, label=label)
    plot.set_xlabel(axes.xlabel)
    plot.set_ylabel(axes.ylabel)
    if axes.title:
        plot.set_title(axes.title, fontsize=10)
    if axes.log:
        plot.set_yscale("log")
    plot.set_ylim(bottom=axes.ymin, top=axes.ymax)
    if axes.xmax is not None:
        plot.set_xlim(0, axes.xmax)
    plot.grid(alpha=0.3)
    if plot.get_legend_handles_labels()[0]:
        plot.legend(fontsize=8)


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def stacked_bars(labels: Sequence[str], segments: dict[str, Sequence[float]], axes: Axes) -> bytes:
    """Horizontal bars, the first label on top, each split into ``segments`` (legend name ->
    one value per label), stacked left to right in the order given."""
    figure, plot = _figure(height=max(1.6 + 0.4 * len(labels), 2.4))
    positions = list(range(len(labels))[::-1])
    left = [0.0] * len(labels)
    for name, values in segments.items():
        plot.barh(positions, values, left=left, label=name)
        left = [a + b for a, b in zip(left, values, strict=True)]
    plot.set_yticks(positions, list(labels), fontsize=8)
    figure.subplots_adjust(left=0.22)
    _finish(plot, axes)
    plot.legend(fontsize=8, loc="lower right")
    return _png(figure)
