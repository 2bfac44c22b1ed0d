"""SIGINT (Ctrl-C) and SIGTERM (what SLURM, Kubernetes and ``timeout`` send before SIGKILL)
end a run the same way.

The CLI installs :func:`install`: either signal raises KeyboardInterrupt in the main thread,
as Python's own Ctrl-C handler does, so every ``except KeyboardInterrupt`` that records what
was measured handles SIGTERM too. Code that must finish a step first (``train``) uses
:class:`Deferred`: the first signal only asks to stop, a second aborts at once. The final write
of a run's record runs :func:`held`: a signal then is noted but interrupts nothing, so the
record never stays ``running`` because a second Ctrl-C came while it was being written.

One event often reaches a process more than once: a terminal or a scheduler signals the whole
process group, and a parent (dnn-suite waiting for a child, torchrun for its workers) forwards
it as well; torchrun, signalled twice, follows up with SIGTERM. Any stop signal within
:data:`REPEAT_WINDOW_S` of the last counted one is therefore the same request; a second Ctrl-C
after that is a second request.

The exit code is the signal's conventional one: 128 + its number (130 SIGINT, 143 SIGTERM).
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

HANDLED = (signal.SIGINT, signal.SIGTERM)
REPEAT_WINDOW_S = 1.0

_received: list[tuple[int, float]] = []  # (signal, monotonic time) of every request, duplicates left out


def _note(signum: int) -> bool:
    """Record ``signum``; False when it is the same event delivered again (see the module doc)."""
    now = time.monotonic()
    if _received and now - _received[-1][1] < REPEAT_WINDOW_S:
        return False
    _received.append((signum, now))
    return True


def received() -> int | None:
    """The first signal that asked this process to stop, if any."""
    return _received[0][0] if _received else None


def exit_code() -> int:
    """128 + the first signal received; 130 when KeyboardInterrupt came without a signal."""
    return 128 + (received() or signal.SIGINT)


def reason() -> str:
    """Why the run stopped, for run.json's ``error``."""
    signum = received()
    if signum is None or signum == signal.SIGINT:
        return "interrupted by the user (SIGINT, Ctrl-C)"
    return f"interrupted by {signal.Signals(signum).name}"


def _interrupt(signum: int, frame: Any) -> None:
    if _note(signum):
        raise KeyboardInterrupt


def install() -> None:
    """SIGINT and SIGTERM raise KeyboardInterrupt (in the main thread, where Python runs handlers),
    and every child this process forks from now on ignores both (:func:`_leave_to_parent`)."""
    global _fork_hook_registered
    _received.clear()
    if threading.current_thread() is threading.main_thread():
        for signum in HANDLED:
            signal.signal(signum, _interrupt)
    if not _fork_hook_registered:
        os.register_at_fork(after_in_child=_leave_to_parent)
        atexit.register(_end_daemonic_children)
        _fork_hook_registered = True


_fork_hook_registered = False


@contextmanager
def interrupting() -> Iterator[None]:
    """Within it, SIGINT and SIGTERM raise KeyboardInterrupt as under :func:`install`, and the
    previous handlers are back on leaving; for the Python API, which must leave the caller's process
    as it found it (no fork hook: loader workers ignore both through :func:`leave_to_main_process`)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    previous = {signum: signal.signal(signum, _interrupt) for signum in HANDLED}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _end_daemonic_children() -> None:
    """At exit, end the daemonic children still running (DataLoader workers of persistent
    loaders) with SIGKILL. multiprocessing's own exit handler, which runs after this one, ends them
    with SIGTERM and waits: workers ignore SIGTERM (:func:`ignore_in_worker`), so it would wait
    for ever."""
    multiprocessing = sys.modules.get("multiprocessing")
    if multiprocessing is None:
        return
    for child in multiprocessing.active_children():
        if child.daemon:
            child.kill()
            child.join()


def _leave_to_parent() -> None:
    """In a forked child (a DataLoader worker of any loader, any model plugin's, in the default
    fork context): ignore SIGINT and SIGTERM. ``timeout``, ``kill -- -PGID``, SLURM and Kubernetes
    signal the whole process group; a worker killed by the signal would make the main process's
    loader raise before it could record what it measured. The main process stops its workers when
    it ends, and they exit on their own if it dies. Set at the fork itself, so no signal can come
    between the fork and a ``worker_init_fn``; children started by ``subprocess`` run no fork hook
    and get their handlers from their own program."""
    for signum in HANDLED:
        signal.signal(signum, signal.SIG_IGN)


def ignore_in_worker(_worker_id: int = 0) -> None:
    """A DataLoader ``worker_init_fn``: workers leave both signals to the main process, which
    finishes its step (and saves) while they keep serving it. (Forked workers already do, see
    :func:`_leave_to_parent`; this covers loaders in the spawn and forkserver contexts.)"""
    for signum in HANDLED:
        signal.signal(signum, signal.SIG_IGN)


class _ThenIgnore:
    """A loader's own ``worker_init_fn`` followed by :func:`ignore_in_worker` (picklable, for
    loaders whose workers are spawned)."""

    def __init__(self, own: Callable[[int], Any] | None) -> None:
        self.own = own

    def __call__(self, worker_id: int) -> None:
        if self.own is not None:
            self.own(worker_id)
        ignore_in_worker(worker_id)


def leave_to_main_process(loader: Any) -> Any:
    """``loader``, with its workers (if it is a torch DataLoader with any) ignoring SIGINT and
    SIGTERM. torch gives each worker a SIGTERM handler that dies of the signal, so a process group
    signalled by a scheduler would lose the workers and fail the run; their ``worker_init_fn`` runs
    after that handler is set. For loaders a model plugin builds, whatever it put there."""
    if getattr(loader, "num_workers", 0) and not isinstance(loader.worker_init_fn, _ThenIgnore) \
            and loader.worker_init_fn is not ignore_in_worker:
        loader.worker_init_fn = _ThenIgnore(loader.worker_init_fn)
    return loader


def forward(pid: int) -> None:
    """Send the signal we received on to a child that may not have got it (a scheduler or
    ``kill`` signals one process); a child that got it from the process group too counts it once."""
    try:
        os.kill(pid, received() or signal.SIGINT)
    except ProcessLookupError:
        pass


def wait_for(process: subprocess.Popen, redirect: Callable[[int], int] | None = None) -> int:
    """Wait for a child, forwarding each stop request to it (or to ``redirect(its pid)``, the process
    that should get it, e.g. the program under a profiler's tool); it records what it measured and exits."""
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            if process.poll() is None:
                forward(redirect(process.pid) if redirect else process.pid)


class Deferred:
    """Within it, the first SIGINT or SIGTERM sets :attr:`requested` (and calls ``on_first`` with
    the signal); a second raises KeyboardInterrupt and sets :attr:`aborted`."""

    def __init__(self, on_first: Callable[[int], None]) -> None:
        self.on_first = on_first
        self.requested = False
        self.aborted = False
        self._previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        if not _note(signum):
            return
        if self.requested:
            self.aborted = True
            raise KeyboardInterrupt
        self.requested = True
        self.on_first(signum)

    def __enter__(self) -> Deferred:
        if threading.current_thread() is threading.main_thread():
            self._previous = {signum: signal.signal(signum, self._handler) for signum in HANDLED}
        return self

    def __exit__(self, *exc: Any) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)


@contextmanager
def held() -> Iterator[None]:
    """Within it, SIGINT and SIGTERM are noted (:func:`received`) but raise nothing; for a short,
    final step that must complete (the run's record). The previous handlers are back on leaving."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, lambda signum, frame: _note(signum)) for signum in HANDLED}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
