"""Shared by the fake ``nvprof``, ``nsys`` and ``ncu`` executables of the tests.

Each fake parses its command line the way the real tool does (options first, then the
program and its arguments), exits with code 3 and a loud message when a flag the plugin must
pass is missing or unexpected, runs the program (the real benchmark child, which writes
run.json), and writes output files in the tool's real format, built from the number of
iterations the child really measured. The timeline the timeline fakes write, times in ns:

* iteration i of the measured windows (counted over all windows) spans
  [T0 + i * ITERATION_NS, T0 + (i + 1) * ITERATION_NS); each window is an NVTX range
  ``dnn_suite.window`` over its iterations (windows follow each other with a WINDOW_GAP_NS gap);
* device 0, per iteration at base b: ``sgemm_fwd`` [b+100us, b+400us) on stream 7,
  ``relu`` [b+300us, b+500us) on stream 8 (overlapping), ``sgemm_bwd`` [b+600us, b+700us):
  busy 500 us of 1000 us = 50 %, kernel time 600 us; an HtoD copy [b, b+50us) of 4096 bytes;
* device 1, per iteration: ``allreduce`` [b, b+250us): 25 %;
* device 0 also ran a ``warmup_kernel`` before the first window, which must not count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

T0 = 1_000_000_000
ITERATION_NS = 1_000_000
WINDOW_GAP_NS = 500_000
WINDOW_RANGE = "dnn_suite.window"


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


def run_program(program: list[str]) -> subprocess.CompletedProcess:
    sys.stdout.flush()
    return subprocess.run(program)


def measured_windows(run_dir: Path) -> list[int]:
    """Iterations of each window the child measured (read from the run.json it wrote)."""
    document = json.loads((run_dir / "run.json").read_text())
    metrics = document.get("metrics") or {}
    return [w["iterations"] for w in metrics.get("windows", [])]


def iteration_bases(windows: list[int]) -> tuple[list[tuple[int, int]], list[int]]:
    """(NVTX window ranges, iteration start times)."""
    ranges, bases, t = [], [], T0
    for iterations in windows:
        ranges.append((t, t + iterations * ITERATION_NS))
        bases.extend(t + k * ITERATION_NS for k in range(iterations))
        t += iterations * ITERATION_NS + WINDOW_GAP_NS
    return ranges, bases


def timeline(windows: list[int]) -> tuple[list[tuple[int, int]], list[tuple], list[tuple]]:
    """(ranges, kernels (device, stream, start, end, name), memcpys (device, kind, start, end, bytes))."""
    ranges, bases = iteration_bases(windows)
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


def mode(tool: str) -> str:
    return os.environ.get(f"FAKE_{tool.upper()}_MODE", "ok")
