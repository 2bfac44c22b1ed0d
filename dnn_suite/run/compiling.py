"""``--compile [MODE]``: the model compiled by ``torch.compile`` for every model plugin, and its
compilation measured apart from the steady state.

The core compiles the module a plugin built, in place (``nn.Module.compile``): the train step, the
inference step, evaluation and checkpoints keep the same object and its parameter names, and
whatever the step does around the model (the loss, the optimizer) stays eager, as the plugins
wrote it.

Compilation happens at the first calls and again whenever a guard fails (a new input shape, eval
mode, ...). :class:`CompileMeter` hears every compilation through torch's compile callbacks
(``torch._dynamo.callback``: a frame traced by Dynamo, a backward compiled lazily, a CUDA graph
recorded) and times it. :class:`Warmup` goes on past ``--warmup`` until the last
:data:`QUIET_ITERATIONS` iterations compiled nothing, for at most :data:`MAX_EXTRA_WARMUP` more,
so that the measured windows time the compiled graph; what still compiles in the windows is
counted as recompilations.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch

from dnn_suite.errors import UsageError

#: iterations at the end of the warmup that must have compiled nothing
QUIET_ITERATIONS = 2
#: warmup iterations run at most beyond ``--warmup`` while the model still compiles
MAX_EXTRA_WARMUP = 20


def modes() -> tuple[str, ...]:
    """The ``torch.compile`` modes of the torch in use (default, reduce-overhead, max-autotune, ...)."""
    from torch._inductor import list_mode_options

    return tuple(list_mode_options())


def check_mode(mode: str | None) -> None:
    """Refuse a mode the torch in use does not offer (None: eager, nothing to check)."""
    if mode is not None and mode not in modes():
        raise UsageError(f"--compile {mode}: torch {torch.__version__} offers the modes {', '.join(modes())}")


def compile_model(model: torch.nn.Module, mode: str | None) -> torch.nn.Module:
    """``model`` compiled in ``mode``, in place (None: left eager). Torch's compiled code of earlier runs in
    this process is dropped first, so that a run's compile time is its own."""
    if mode is not None:
        torch._dynamo.reset()
        model.compile(mode=mode)
    return model


@dataclass
class Compilation:
    """One compilation torch reported: what triggered it (dynamo, lazy_backward, cudagraph_recording, ...)
    and how long it took."""

    trigger: str
    seconds: float


class CompileMeter:
    """Every compilation while it is entered, in order. Used as a context manager; a meter of an
    eager run (``enabled`` False) hears nothing."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.compilations: list[Compilation] = []
        self._started: float | None = None

    def __enter__(self) -> CompileMeter:
        if self.enabled:
            from torch._dynamo.callback import callback_handler

            callback_handler.register_start_callback(self._start)
            callback_handler.register_end_callback(self._end)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.enabled:
            from torch._dynamo.callback import callback_handler

            callback_handler.remove_start_callback(self._start)
            callback_handler.remove_end_callback(self._end)

    def _start(self, args: Any) -> None:
        self._started = time.perf_counter()

    def _end(self, args: Any) -> None:
        started, self._started = self._started, None
        seconds = time.perf_counter() - started if started is not None else 0.0
        self.compilations.append(Compilation(args.callback_trigger.name.lower(), seconds))

    @property
    def count(self) -> int:
        return len(self.compilations)

    def seconds(self, since: int = 0, until: int | None = None) -> float:
        """The time spent compiling in compilations ``since`` .. ``until`` (counts)."""
        return sum(c.seconds for c in self.compilations[since:until])


@dataclass
class Warmup:
    """How many warmup iterations run: ``configured`` ones; with a compiled model, more until the last
    :data:`QUIET_ITERATIONS` compiled nothing (at most :data:`MAX_EXTRA_WARMUP` more)."""

    configured: int
    meter: CompileMeter
    ran: int = 0
    quiet: int = 0  #: iterations since the last one that compiled
    seconds: float = 0.0  #: the warmup's wall time, once done
    compilations: int = 0  #: how many compilations it saw, once done
    _seen: int = 0
    _started: float = field(default_factory=time.perf_counter)

    def another(self) -> bool:
        """Called before each warmup iteration: whether it runs."""
        if self.ran:
            self.quiet = 0 if self.meter.count > self._seen else self.quiet + 1
        self._seen = self.meter.count
        more = self.ran < self.configured or (
            self.meter.enabled and self.quiet < QUIET_ITERATIONS and self.ran < self.configured + MAX_EXTRA_WARMUP)
        if more:
            self.ran += 1
        return more

    def done(self) -> None:
        """Called once the warmup's work is done (its device work too)."""
        self.seconds = time.perf_counter() - self._started
        self.compilations = self.meter.count

    @property
    def stable(self) -> bool:
        return self.quiet >= QUIET_ITERATIONS


def compile_record(mode: str, meter: CompileMeter, warmup: Warmup,
                   window_counts: list[tuple[int, int]]) -> dict[str, Any]:
    """run.json's ``metrics.compile``: the compilations of the warmup, apart from those in the measured
    windows (``window_counts``: the meter's count at each window's start and end)."""
    in_windows = [end - start for start, end in window_counts]
    warmup_count = warmup.compilations
    return {
        "mode": mode,
        "compile_time_s": meter.seconds(0, warmup_count),
        "compilations": warmup_count,
        "triggers": sorted({c.trigger for c in meter.compilations[:warmup_count]}),
        "warmup_iterations": warmup.ran,
        "warmup_extra_iterations": max(0, warmup.ran - warmup.configured),
        "warmup_time_s": warmup.seconds,
        "stable": warmup.stable,
        "recompilations": sum(in_windows),
        "recompilations_per_window": in_windows,
        "recompile_time_s": sum(meter.seconds(start, end) for start, end in window_counts),
    }

