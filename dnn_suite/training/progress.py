"""A training run's progress on stderr: a carriage-return line on a terminal, else a line every 10%."""

from __future__ import annotations

import math
import time
from typing import TextIO


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h07m``."""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class TrainingProgress:
    """Steps ``start``..``total``: speed and ETA leave out :attr:`busy_s` (evaluating, checkpointing)."""

    def __init__(self, stream: TextIO, start: int, total: int, steps_per_epoch: int) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
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
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K")
            self._open_line = True
            if step >= self.total:
                self.stream.write("\n")
                self._open_line = False
            self.stream.flush()
        else:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self._open_line:
            self.stream.write("\n")
            self.stream.flush()
            self._open_line = False
