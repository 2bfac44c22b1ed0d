"""Progress on stderr, the one implementation of it: bars for long loops (the benchmark's warmup
and windows, and whatever a plugin runs for a long time: evaluation, downloads), and the
training's step log (:class:`TrainingProgress`).

A bar is drawn only when stdout and stderr are both terminals and ``--quiet`` was not given,
so logs, pipes, ``--json`` output and the child of a launcher profiler (whose output is a
pipe) never see one; in a Jupyter notebook (an IPython kernel), where neither is a terminal, it
is a ``tqdm.auto`` bar (a widget where ipywidgets is installed, else a line of text). It is
redrawn at most every :data:`REDRAW_S` seconds: inside a measured window an update costs one
clock read, and a redraw a few microseconds every 0.2 s.

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

import math
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


def is_quiet() -> bool:
    """Whether ``--quiet`` (or :func:`set_quiet`) turned the bars off in this process."""
    return _quiet


def shown(stream: TextIO) -> bool:
    """Whether bars written to ``stream`` would be seen on a terminal."""
    return not _quiet and _is_terminal(stream) and _is_terminal(sys.stdout)


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython with a kernel attached)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


class ProgressBar:
    """A counter drawn as one line on ``stream`` (default: stderr) while it is updated.

    ``total`` is what ``count`` reaches when the work is done (None when unknown: the count and
    the rate are shown). A bar that was never updated draws nothing, so zero-length loops stay
    silent. In a notebook the bar is tqdm's (:func:`in_notebook`). (``dnn-suite train`` reports its
    steps, loss and learning rate with :class:`TrainingProgress`, which also logs to files and pipes.)
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
        self._notebook_bar: Any = None
        if not self._visible and not _quiet and stream is None and in_notebook():
            from tqdm.auto import tqdm

            self._notebook_bar = tqdm(total=total, desc=label or None, unit=unit, mininterval=REDRAW_S, leave=True)

    def update(self, n: float = 1, **info: Any) -> None:
        """Add ``n`` to the count; ``info`` (e.g. ``loss=0.42``) replaces the shown values."""
        self.count += n
        if self._notebook_bar is not None:
            self._notebook_bar.update(n)
            if info:
                self._notebook_bar.set_postfix(info, refresh=False)
            return
        if not self._visible:
            return
        self.info.update(info)
        now = time.monotonic()
        if now - self._drawn_at >= REDRAW_S:
            self._drawn_at = now
            self._draw(now)

    def close(self) -> None:
        """Draw the final state and end the line."""
        if self._notebook_bar is not None:
            self._notebook_bar.close()
            self._notebook_bar = None
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
        redraw(self._stream, self.line(now)[:width])


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


def redraw(stream: TextIO, text: str) -> None:
    """Overwrite the terminal's current line with ``text``."""
    stream.write("\r" + text + "\x1b[K")
    stream.flush()


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h07m``."""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class TrainingProgress:
    """A training run's step log: steps ``start``..``total`` with epoch, loss, learning rate,
    speed and ETA, as one line redrawn in place on a terminal (at most every 0.5 s), else a line
    every 10% of the steps (files, pipes, notebooks keep them all). Speed and ETA leave out
    :attr:`busy_s` (evaluating, checkpointing)."""

    def __init__(self, stream: TextIO, start: int, total: int, steps_per_epoch: int) -> None:
        self.stream = stream
        self.tty = _is_terminal(stream)
        self.start, self.total, self.steps_per_epoch = start, total, steps_per_epoch
        self.every = max(1, math.ceil(total / 10))
        self.started = time.perf_counter()
        self.busy_s = 0.0
        self.images = 0
        self._last_draw = 0.0
        self._open_line = False

    def note(self, text: str) -> None:
        """A line of its own (a checkpoint, an evaluation), not overwritten by the progress line."""
        if self._open_line:
            self.stream.write("\n")
            self._open_line = False
        print(text, file=self.stream, flush=True)

    def images_per_s(self) -> float:
        elapsed = time.perf_counter() - self.started - self.busy_s
        return self.images / elapsed if elapsed > 0 else 0.0

    def update(self, step: int, loss: float, lr: float, images: int) -> None:
        self.images += images
        now = time.perf_counter()
        done = step - self.start
        if self.tty:
            if now - self._last_draw < 0.5 and step < self.total:
                return
        elif step % self.every and step != self.start + 1 and step < self.total:
            return
        self._last_draw = now
        speed = self.images_per_s()
        rate = done / max(now - self.started - self.busy_s, 1e-9)
        eta = duration((self.total - step) / rate) if rate > 0 else "?"
        epoch = min(step - 1, self.total - 1) // self.steps_per_epoch + 1
        epochs = math.ceil(self.total / self.steps_per_epoch)
        line = (f"step {step}/{self.total} ({100 * step / self.total:.0f}%)  epoch {epoch}/{epochs}  "
                f"loss {loss:.4f}  lr {lr:.3g}  {speed:.1f} img/s  ETA {eta}")
        if not self.tty:
            print(line, file=self.stream, flush=True)
            return
        redraw(self.stream, line)
        self._open_line = True
        if step >= self.total:
            self.close()

    def close(self) -> None:
        if self._open_line:
            self.stream.write("\n")
            self.stream.flush()
            self._open_line = False
