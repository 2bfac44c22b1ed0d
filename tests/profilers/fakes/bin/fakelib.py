"""Shared by the fake ``nvprof``, ``nsys`` and ``ncu`` executables of the tests.

Each fake parses its command line the way the real tool does (options first, then the
program and its arguments), exits with code 3 and a loud message when a flag the plugin must
pass is missing or unexpected, runs the program (the real benchmark child, which writes
run.json) and writes output files in the tool's real format.

What the outputs hold comes from what the child really did, never from what it should do:
the child's capture seam (``dnn_suite_profilers.capture``) appends each
``cudaProfilerStart``/``Stop`` and NVTX push/pop, with its thread, to the file named by
``DNN_SUITE_CAPTURE_CALL_LOG``, which the fake sets; :func:`windows_seen` replays those calls
the way the tools see them. Only the number of iterations of each window is read from the
run.json the child wrote. So a capture the child never opens records nothing, a window
without its NVTX range has no range in the output, and a range popped on another thread than
the one that pushed it is never closed (NVTX push/pop ranges are per thread).

The timeline the timeline fakes write, times in ns:

* iteration i of the measured windows (counted over all windows) spans
  [T0 + i * ITERATION_NS, T0 + (i + 1) * ITERATION_NS); each window the child marked is an
  NVTX range ``dnn_suite.window`` over its iterations (windows follow each other with a
  WINDOW_GAP_NS gap);
* device 0, per iteration at base b: ``sgemm_fwd`` [b+100us, b+400us) on stream 7,
  ``relu`` [b+300us, b+500us) on stream 8 (overlapping), ``sgemm_bwd`` [b+600us, b+700us):
  busy 500 us of 1000 us = 50 %, kernel time 600 us; an HtoD copy [b, b+50us) of 4096 bytes;
* device 1, per iteration: ``allreduce`` [b, b+250us): 25 %;
* device 0 also ran a ``warmup_kernel`` before the first window, which must not count;
* only windows the capture was open for have kernels. As on CUDA, the forward kernels are
  launched by the thread that runs the loop (the child's main thread) and the backward ones
  by autograd's own thread (:data:`AUTOGRAD_THREAD`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

T0 = 1_000_000_000
ITERATION_NS = 1_000_000
WINDOW_GAP_NS = 500_000
WINDOW_RANGE = "dnn_suite.window"
CALL_LOG_ENV = "DNN_SUITE_CAPTURE_CALL_LOG"  # read by dnn_suite_profilers.capture
#: the thread that launches backward kernels: on CUDA autograd runs backward on a thread of its
#: own; no real thread id is negative
AUTOGRAD_THREAD = -1


def fail(tool: str, message: str) -> None:
    print(f"FAKE {tool}: {message}", file=sys.stderr, flush=True)
    sys.exit(3)


def parse(tool: str, argv: list[str], with_value: set[str], flags: set[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Options (``--x v``, ``--x=v``, ``-x v``) until the program; unknown options fail."""
    options: dict[str, list[str]] = {}
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        name, sep, value = argv[i].partition("=")
        if name in with_value:
            if not sep:
                i += 1
                if i >= len(argv):
                    fail(tool, f"option {name} needs a value")
                value = argv[i]
            options.setdefault(name, []).append(value)
        elif name in flags and not sep:
            options.setdefault(name, []).append("")
        else:
            fail(tool, f"unexpected option {argv[i]!r}")
        i += 1
    program = argv[i:]
    if not program:
        fail(tool, "no program to run")
    return options, program


def require(tool: str, options: dict[str, list[str]], name: str, value: str | None = None) -> str:
    if name not in options:
        fail(tool, f"missing required option {name}")
    given = options[name][-1]
    if value is not None and given != value:
        fail(tool, f"option {name} is {given!r}, expected {value!r}")
    return given


def check_program(tool: str, program: list[str]) -> Path:
    """The program must be the benchmark child: PYTHON -m dnn_suite _child RUN_DIR."""
    if len(program) != 5 or program[1:4] != ["-m", "dnn_suite", "_child"]:
        fail(tool, f"the program is not `python -m dnn_suite _child RUN_DIR`: {program}")
    return Path(program[4])


def run_program(program: list[str]) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """Run the program with the capture seam's call log on; (its result, the calls it made)."""
    sys.stdout.flush()
    handle, path = tempfile.mkstemp(prefix="fake-capture-calls-", suffix=".jsonl")
    os.close(handle)
    try:
        completed = subprocess.run(program, env={**os.environ, CALL_LOG_ENV: path})
        calls = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    finally:
        os.unlink(path)
    return completed, calls


@dataclass(frozen=True)
class Window:
    """A measured window as the tool saw it."""

    iterations: int
    captured: bool  # the capture (cudaProfilerStart .. Stop) was open when the window began
    range_thread: int | None  # the thread whose dnn_suite.window range spans it; None: no range
    main_thread: int | None  # the child's main thread, which launches the forward kernels


def windows_seen(calls: list[dict], iterations: list[int]) -> list[Window]:
    """The child's windows (``iterations`` of each, from run.json) as its capture calls show
    them. The k-th window is the k-th ``range_push`` of the window range; it has a range when
    the same thread popped it (NVTX push/pop ranges are per thread); it is captured when the
    capture was open at that push. Without any push, the windows' positions in the calls are
    unknown: they count as captured if the capture was ever opened."""
    capturing, ever_started = False, False
    stacks: dict[int, list[int]] = {}
    pushes: list[tuple[int, bool]] = []  # (thread, captured) of each window-range push
    closed: set[int] = set()  # indices into pushes whose range the same thread popped
    main = next((c["main_thread"] for c in calls), None)
    for call in calls:
        kind, thread = call["call"], call["thread"]
        if kind == "profiler_start":
            capturing, ever_started = True, True
        elif kind == "profiler_stop":
            capturing = False
        elif kind == "range_push":
            index = len(pushes) if call["name"] == WINDOW_RANGE else -1
            if index >= 0:
                pushes.append((thread, capturing))
            stacks.setdefault(thread, []).append(index)
        elif kind == "range_pop" and stacks.get(thread):
            index = stacks[thread].pop()
            if index >= 0:
                closed.add(index)
    seen = []
    for k, count in enumerate(iterations):
        if k < len(pushes):
            thread, captured = pushes[k]
            seen.append(Window(count, captured, thread if k in closed else None, main))
        else:
            seen.append(Window(count, ever_started and not pushes, None, main))
    return seen


def measured_windows(run_dir: Path) -> list[int]:
    """Iterations of each window the child measured (read from the run.json it wrote)."""
    document = json.loads((run_dir / "run.json").read_text())
    metrics = document.get("metrics") or {}
    return [w["iterations"] for w in metrics.get("windows", [])]


def iteration_bases(windows: list[Window]) -> tuple[list[tuple[int, int, int]], list[int]]:
    """(NVTX window ranges (start, end, thread) the tool recorded, start times of the captured
    iterations)."""
    ranges, bases, t = [], [], T0
    for window in windows:
        end = t + window.iterations * ITERATION_NS
        if window.captured:
            if window.range_thread is not None:
                ranges.append((t, end, window.range_thread))
            bases.extend(t + k * ITERATION_NS for k in range(window.iterations))
        t = end + WINDOW_GAP_NS
    return ranges, bases


def timeline(windows: list[Window]) -> tuple[list[tuple[int, int, int]], list[tuple], list[tuple]]:
    """(ranges, kernels (device, stream, start, end, name), memcpys (device, kind, start, end, bytes));
    nothing at all when no window was captured."""
    ranges, bases = iteration_bases(windows)
    if not bases:
        return ranges, [], []
    kernels = [(0, 7, T0 - 600_000, T0 - 300_000, "warmup_kernel")]
    memcpys = []
    for b in bases:
        kernels += [
            (0, 7, b + 100_000, b + 400_000, "sgemm_fwd"),
            (0, 8, b + 300_000, b + 500_000, "relu"),
            (0, 7, b + 600_000, b + 700_000, "sgemm_bwd"),
            (1, 7, b, b + 250_000, "allreduce"),
        ]
        memcpys.append((0, 1, b, b + 50_000, 4096))
    return ranges, kernels, memcpys


def captured_anything(windows: list[Window]) -> bool:
    return any(w.captured for w in windows)


def mode(tool: str) -> str:
    return os.environ.get(f"FAKE_{tool.upper()}_MODE", "ok")
