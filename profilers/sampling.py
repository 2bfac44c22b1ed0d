"""A background sampling thread that runs exactly for the measured window.

Shared by the samplers (``cpu``, ``nvml``): each supplies a function returning one row;
the thread calls it every ``interval_s`` into a bounded buffer until stopped.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import Any, Callable

MAX_SAMPLES = 1_000_000  # bounded: about a day at 100 ms


class Sampler:
    def __init__(self, sample: Callable[[float], list[dict[str, Any]]], interval_s: float):
        if interval_s <= 0:
            raise ValueError("sampling interval must be positive")
        self._sample = sample
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dnn-suite-sampler", daemon=True)
        self.rows: deque[dict[str, Any]] = deque(maxlen=MAX_SAMPLES)
        self.started_at = 0.0
        self.stopped_at = 0.0
        self.error: BaseException | None = None

    def _loop(self) -> None:
        next_time = time.perf_counter()
        while not self._stop.is_set():
            try:
                self.rows.extend(self._sample(time.perf_counter() - self.started_at))
            except Exception as exc:  # reported after the window, never kills the run mid-way
                self.error = exc
                return
            next_time = self._next_slot(next_time, time.perf_counter())
            self._stop.wait(max(0.0, next_time - time.perf_counter()))

    def _next_slot(self, last_slot: float, now: float) -> float:
        """The first slot of the ``interval`` grid after ``now``. A sampler that fell behind
        (its thread was descheduled, a reading was slow) skips the slots it missed instead of
        taking them back to back, which would weigh one moment many times in the means."""
        missed = max(0, math.floor((now - last_slot) / self._interval))
        return last_slot + (missed + 1) * self._interval

    def start(self) -> None:
        self.started_at = time.perf_counter()
        self._thread.start()

    def stop(self) -> None:
        """Stop and take one last sample, so even a window shorter than the interval has
        a sample at each end."""
        self._stop.set()
        self._thread.join()
        self.stopped_at = time.perf_counter()
        if self.error is None:
            self.rows.extend(self._sample(self.stopped_at - self.started_at))
