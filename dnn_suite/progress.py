"""Progress bars on stderr for long loops: the benchmark's warmup and windows, and whatever a
plugin runs for a long time (training epochs, evaluation, downloads).

A bar is drawn only when stdout and stderr are both terminals and ``--quiet`` was not given,
so logs, pipes, ``--json`` output and the child of a launcher profiler (whose output is a
pipe) never see one. It is redrawn at most every :data:`REDRAW_S` seconds: inside a measured
window an update costs one clock read, and a redraw a few microseconds every 0.2 s.

Use it as an iterator wrapper or as a context manager::

    from dnn_suite.progress import progress, track

    for batch in track(loader, total=len(loader), label="eval", unit="batch"):
        ...

    with progress(total=steps, label="train", unit="step") as bar:
        for step in range(steps):
            loss = train_step()
            bar.update(loss=loss)          # keyword arguments are shown after the counts
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO, TypeVar

T = TypeVar("T")

REDRAW_S = 0.2
BAR_WIDTH = 20

_quiet = False


def set_quiet(quiet: bool) -> None:
    """``--quiet``: no progress bars in this process."""
    global _quiet
    _quiet = quiet


def shown(stream: TextIO) -> bool:
    """Whether bars written to ``stream`` would be seen on a terminal."""
    return not _quiet and _is_terminal(stream) and _is_terminal(sys.stdout)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


class ProgressBar:
    """A counter drawn as one line on ``stream`` (default: stderr) while it is updated.

    ``total`` is what ``count`` reaches when the work is done (None when unknown: the count and
    the rate are shown). A bar that was never updated draws nothing, so zero-length loops stay
    silent. (``dnn-suite train`` reports its steps, loss and learning rate with its own
    :mod:`dnn_suite.training.progress`, which also logs to files and pipes.)
    """

    def __init__(self, total: float | None = None, label: str = "", unit: str = "it",
                 stream: TextIO | None = None) -> None:
        self.total = total
        self.label = label
        self.unit = unit
        self.count: float = 0
        self.info: dict[str, Any] = {}
        self._stream = stream if stream is not None else sys.stderr
        self._visible = shown(self._stream)
        self._started = time.monotonic()
        self._drawn_at = 0.0

    def update(self, n: float = 1, **info: Any) -> None:
        """Add ``n`` to the count; ``info`` (e.g. ``loss=0.42``) replaces the shown values."""
        self.count += n
        if not self._visible:
            return
        self.info.update(info)
        now = time.monotonic()
        if now - self._drawn_at >= REDRAW_S:
            self._drawn_at = now
            self._draw(now)

    def close(self) -> None:
        """Draw the final state and end the line."""
        if self._visible and self.count:
            self._draw(time.monotonic())
            self._stream.write("\n")
            self._stream.flush()
        self._visible = False

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def line(self, now: float) -> str:
        """The text of the bar at time ``now`` (``time.monotonic()``), not cut to the terminal."""
        elapsed = max(now - self._started, 1e-9)
        rate = self.count / elapsed
        parts = [self.label] if self.label else []
        if self.total:
            done = min(self.count / self.total, 1.0)
            filled = round(done * BAR_WIDTH)
            parts.append(f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}]")
            parts.append(f"{_number(self.count)}/{_number(self.total)} {self.unit}")
            remaining = (self.total - self.count) / rate if rate > 0 else None
            parts.append(f"{_number(rate)} {self.unit}/s")
            parts.append(f"ETA {_clock(remaining)}" if self.count < self.total else f"in {_clock(elapsed)}")
        else:
            parts.append(f"{_number(self.count)} {self.unit}")
            parts.append(f"{_number(rate)} {self.unit}/s")
            parts.append(_clock(elapsed))
        parts.extend(f"{key}={_number(value)}" for key, value in self.info.items())
        return "  ".join(parts)

    def _draw(self, now: float) -> None:
        width = shutil.get_terminal_size(fallback=(80, 24)).columns - 1
        self._stream.write("\r" + self.line(now)[:width] + "\x1b[K")
        self._stream.flush()


def progress(total: float | None = None, label: str = "", unit: str = "it") -> ProgressBar:
    """A progress bar on stderr; use it in a ``with`` block and call ``update()``."""
    return ProgressBar(total, label, unit)


def track(items: Iterable[T], total: float | None = None, label: str = "", unit: str = "it") -> Iterator[T]:
    """Yield ``items`` while counting them on a progress bar (``total`` defaults to ``len(items)``)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress(total, label, unit) as bar:
        for item in items:
            yield item
            bar.update()


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() or abs(value) >= 100 else f"{value:.3g}"
    return str(value)


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
