"""What the three launcher profilers (nvprof, nsys, nsight) share.

* In the user's process: find the tool's executable (option ``executable``, then ``PATH``),
  build the argument list, read the tool's console log (``<run_dir>/<name>/tool.log``, teed
  by the core) after the child ended.
* In the child (``run.role == "child"`` and ``run.launcher == name``): open the capture
  around the measured windows. The capture starts (``cudaProfilerStart``) before window 0
  and stops (``cudaProfilerStop``) after the last window, so with ``--repeat N`` every
  window is in one capture, and each window is marked by an NVTX range ``dnn_suite.window``
  that the analyzers use as the denominator. The calls go through :mod:`.capture`, the one
  seam the tests' fake tools observe; on a device that is not CUDA it records them without
  calling CUDA (there is no driver, and no GPU work to capture).

Each tool's module implements the hooks as ``@hookimpl`` functions, like every plugin, and
hands the shared parts to the functions here; every hook answers only for its own launcher's
runs.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Callable, Generator

from dnn_suite.atomic import write_atomic, write_json_atomic
from dnn_suite.context import RunContext
from dnn_suite.errors import RunFailed, UsageError
from dnn_suite.metrics import Metric
from dnn_suite.options import Option
from dnn_suite.value_types import Integer
from dnn_suite_profilers import capture
from dnn_suite_profilers.analyze import TOOL_LOG
from dnn_suite_profilers.analyzers import WINDOW_RANGE, Analysis, InvalidProfileFile  # noqa: F401 (re-exported)

LOG_TAIL_LINES = 3
#: the option of nvprof and nsys saying how many kernels the metrics list
TOP_KERNELS = Option("top_kernels", 5, "how many kernels (by total time) to list in the metrics", Integer(minimum=0))


# ----------------------------------------------------------------- in the user's process


def nvidia_driver() -> bool | None:
    """Whether an NVIDIA driver answers here (NVML starts); None when nvidia-ml-py is missing."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return False
    pynvml.nvmlShutdown()
    return True


def resolve_executable(run: RunContext, name: str, install_hint: str) -> str:
    """The absolute path of the profiler's tool (option ``executable``), or a UsageError: on a machine
    without an NVIDIA driver, that there is no GPU to profile (installing the tool would not help)."""
    given = run.profiler_options(name)["executable"]
    found = shutil.which(given)
    if found is None:
        if nvidia_driver() is False:
            raise UsageError(f"profiler {name} profiles NVIDIA GPUs, and this machine has none (no NVIDIA driver "
                             "answers); run it on a machine with an NVIDIA GPU and its driver")
        where = "is not an executable file" if os.sep in given else "was not found on PATH"
        raise UsageError(
            f"profiler {name}: {given!r} {where}; {install_hint} "
            f"(or set --set profiler_options.{name}.executable=/path/to/{Path(given).name})"
        )
    return found


def warn_if_not_cuda(run: RunContext, name: str) -> None:
    """Launchers on a CPU run: the tool would record no GPU work. Warn, do not refuse (the
    tool still runs the benchmark, and tests use fake tools on CPU-only machines)."""
    if run.device.type != "cuda":
        print(
            f"dnn-suite: warning: profiler {name} records GPU work, but this run is on {run.device}; "
            "expect no kernels (use --device cuda)",
            file=sys.stderr,
        )


def extra_args(run: RunContext, name: str) -> list[str]:
    return [str(a) for a in run.profiler_options(name)["extra_args"]]


def tool_log(run: RunContext, name: str) -> Path:
    assert run.run_dir is not None
    return run.run_dir / name / TOOL_LOG


def read_tool_log(run: RunContext, name: str) -> str:
    try:
        return tool_log(run, name).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def log_tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    """The last few non-empty lines of a log, joined on one line (for one-line errors)."""
    tail = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(tail) if tail else "the log is empty"


def missing_output(run: RunContext, name: str, path: Path) -> RunFailed:
    """The tool left no output file: say where to look and what the log ends with."""
    log = tool_log(run, name)
    return RunFailed(f"{name} wrote no {path.name} (see {log}; it ends with: {log_tail(read_tool_log(run, name))})")


def is_main(run: RunContext, name: str) -> bool:
    return run.role == "main" and run.launcher == name


# ----------------------------------------------------------------- in the child


def _capturing(run: RunContext, name: str) -> bool:
    return run.role == "child" and run.launcher == name


def _stop(run: RunContext, name: str) -> None:
    state = run.state.setdefault(name, {})
    if state.get("capturing"):
        state["capturing"] = False
        capture.profiler_stop(run.device)


def capture_window(run: RunContext, name: str, window: int) -> Generator[None, Any, Any]:
    """Body of a launcher's ``dnn_suite_measured_window`` wrapper (``yield from`` it)."""
    if not _capturing(run, name):
        return (yield)
    state = run.state.setdefault(name, {})
    if not state.get("capturing"):
        capture.profiler_start(run.device)
        state["capturing"] = True
    capture.range_push(WINDOW_RANGE, run.device)
    try:
        result = yield
    finally:
        capture.range_pop(run.device)
    if window >= run.config.repeat - 1:
        _stop(run, name)
    return result


def capture_loop(run: RunContext, name: str) -> Generator[None, Any, Any]:
    """Body of a launcher's ``dnn_suite_training_loop`` wrapper: whatever ended the loop (an
    interrupted window, an error), the capture is closed."""
    try:
        result = yield
    except BaseException:
        if _capturing(run, name):
            with contextlib.suppress(Exception):  # never hide the error that ended the loop
                _stop(run, name)
        raise
    if _capturing(run, name):
        _stop(run, name)
    return result


# ----------------------------------------------------------------- reports


def timeline_metrics(analysis: Analysis, top: int) -> dict[str, Metric]:
    """The analyzer's metrics plus the ``top`` kernels by total time over all devices, as
    ``top_kernel.<rank>`` (value: total ns; description: device, name, launches, share)."""
    metrics = dict(analysis.metrics)
    rows = sorted(analysis.tables.get("top_kernels", []), key=lambda r: r["total_ns"], reverse=True)
    for rank, row in enumerate(rows[:top], 1):
        metrics[f"top_kernel.{rank}"] = Metric(
            row["total_ns"], "ns",
            f"gpu{row['device']} {row['name']}: {row['instances']} launches"
            + (f", {row['time_pct']:.1f}% of the device's kernel time" if row.get("time_pct") is not None else ""),
        )
    return metrics


def write_analysis(folder: Path, analysis: Analysis) -> None:
    """``analysis.json`` (everything) and one CSV per table (``<table>.csv``)."""
    write_json_atomic(folder / "analysis.json", analysis.to_json())
    for table, rows in analysis.tables.items():
        if not rows:
            continue
        columns = list(dict.fromkeys(key for row in rows for key in row))
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        writer.writerows([row.get(c) for c in columns] for row in rows)
        write_atomic(folder / f"{table}.csv", buffer.getvalue())


# ----------------------------------------------------------------- the hooks' bodies


def launch_command(run: RunContext, name: str, install_hint: str, tool_args: list[str],
                   command: list[str]) -> list[str]:
    """The tool's command line around ``command`` (also written to ``<name>/command.json``)."""
    argv = [resolve_executable(run, name, install_hint), *tool_args, *extra_args(run, name), *command]
    write_json_atomic(run.profiler_dir(name) / "command.json", argv)
    return argv


def output_file(run: RunContext, name: str, path: Path) -> Path:
    """The tool's output ``path`` after the run, or RunFailed if it is missing."""
    if not path.is_file():
        raise missing_output(run, name, path)
    return path


def analyzed(run: RunContext, name: str, path: Path, analyze: Callable[[Path], Analysis]) -> Analysis:
    """The tool's output analyzed (its ``analysis.json`` and tables written); a broken output is
    our own tool's failure, so the run failed, not the usage."""
    try:
        analysis = analyze(path)
    except InvalidProfileFile as exc:
        raise RunFailed(str(exc)) from exc
    write_analysis(run.profiler_dir(name), analysis)
    return analysis
