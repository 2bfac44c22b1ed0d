"""How a measured window is timed: clocks, and iterations whose values are read later.

A real training loop on CUDA never waits for the GPU between steps: the host queues step
``i + 1`` while the GPU still runs step ``i``. Waiting (``torch.cuda.synchronize``) or reading
the loss on the host (``float(loss)``) after every step removes that run-ahead, so the loop
measured would be one nobody trains with. Two timing modes:

* ``deferred`` (the default): each iteration leaves two marks on a clock, before and after its
  step, and keeps its loss as a device tensor. Nothing is read back until the window ends (or
  is cut short); then the device is synchronized once, step times come from the marks and the
  losses are read and checked for NaN/inf, naming the first bad iteration. On CUDA the marks
  are CUDA events (timed on the GPU's own timeline, recorded without waiting); on the CPU they
  are ``perf_counter`` readings, exact there because CPU work is done when the call returns.
* ``synchronized``: the device is synchronized and the loss read after every step, which
  gives host-clock step times that cover each step's GPU work, at the cost of the run-ahead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

import torch

from dnn_suite.context import IterationRecord
from dnn_suite.errors import RunFailed


class HostClock:
    """Marks from ``perf_counter``; exact wherever the work is done when the call returns."""

    name = "perf_counter"

    def mark(self) -> float:
        return perf_counter()

    def seconds(self, start: Any, end: Any) -> float:
        return end - start

    def wait(self) -> None:
        """Nothing is queued on the host."""


class CudaSyncClock(HostClock):
    """``perf_counter`` after synchronizing: every mark waits for the work queued before it."""

    name = "perf_counter after torch.cuda.synchronize"

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def mark(self) -> float:
        torch.cuda.synchronize(self.device)
        return perf_counter()

    def wait(self) -> None:
        torch.cuda.synchronize(self.device)


class CudaEventClock:
    """CUDA events recorded on the device's current stream: a mark costs no wait, and the
    time between two marks is measured on the GPU once both have happened."""

    name = "cuda events"

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def mark(self) -> torch.cuda.Event:
        event = torch.cuda.Event(enable_timing=True)
        event.record(torch.cuda.current_stream(self.device))
        return event

    def seconds(self, start: torch.cuda.Event, end: torch.cuda.Event) -> float:
        return start.elapsed_time(end) / 1e3

    def wait(self) -> None:
        torch.cuda.synchronize(self.device)


def make_clock(device: torch.device, mode: str) -> HostClock | CudaEventClock:
    if device.type != "cuda":
        return HostClock()
    return CudaEventClock(device) if mode == "deferred" else CudaSyncClock(device)


@dataclass
class PendingIteration:
    """An iteration whose step time and loss are not read yet (marks and device tensors)."""

    window: int
    index: int
    data_wait_s: float
    step_start: Any
    step_end: Any
    samples: int
    loss: torch.Tensor | float | None  #: None: an inference step, no loss
    components: dict[str, torch.Tensor | float] = field(default_factory=dict)
    rank: int = 0


def _where(window: int) -> str:
    return "warmup" if window < 0 else f"window {window}"


@dataclass
class Settled:
    """Iterations read back, and the clock mark at the end of the last one's step (None if none)."""

    records: list[IterationRecord] = field(default_factory=list)
    last_end: Any = None


def settle(pending: list[PendingIteration], clock: HostClock | CudaEventClock) -> Settled:
    """Wait for the device once, read the pending iterations' step times and losses, and empty
    ``pending``. The iterations before the first non-finite loss are returned; that one raises
    RunFailed naming it, with what was read before it in the exception's ``settled``."""
    settled = Settled()
    if not pending:
        return settled
    clock.wait()
    taken = list(pending)
    pending.clear()
    for item in taken:
        loss = None if item.loss is None else float(item.loss)
        if loss is not None and not math.isfinite(loss):
            error = RunFailed(f"loss is {loss} at iteration {item.index} of {_where(item.window)}: training diverged")
            error.settled = settled  # type: ignore[attr-defined]
            raise error
        components = {key: float(value) for key, value in item.components.items()}
        settled.records.append(IterationRecord(item.window, item.index, item.data_wait_s,
                                               clock.seconds(item.step_start, item.step_end), item.samples, loss,
                                               components, item.rank))
        settled.last_end = item.step_end
    return settled
