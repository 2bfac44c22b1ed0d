"""``dnn-suite analyze PATH``: the profilers' file formats, read by the analyzers.

Registered as its own entry point (``dnn_suite.analyze``), since the formats are not tied to one
profiler (an nsys export can come from any nsys run). Answers ``None`` for files that are in
none of the formats, so that ``analyze RUN_DIR`` skips a run's other artefacts; a file that
*is* in one of the formats but broken raises the analyzer's error. Skipped on purpose:

* ``tool.log`` in a run directory: the tool's console output, not one of its output files;
* an ``.nsys-rep`` next to its ``.sqlite`` export (the export is analyzed instead); alone,
  the error says how to convert it.

A directory is a set of kineto traces, one per rank (``RUN/torch/traces/rank{N}.pt.trace.json.gz``, or
what ``tensorboard_trace_handler`` writes); one without trace files answers ``None``.
"""

from __future__ import annotations

import csv
from pathlib import Path

from dnn_suite.hookspecs import hookimpl
from dnn_suite_profilers.analyzers import InvalidProfileFile, detect_and_analyze, is_memory_file
from dnn_suite_profilers.analyzers.kineto import is_trace_name, looks_like_trace
from dnn_suite_profilers.analyzers.ncu import is_ncu_line
from dnn_suite_profilers.analyzers.nsys import is_kern_sum_header
from dnn_suite_profilers.analyzers.nvml import is_nvml_header
from dnn_suite_profilers.analyzers.sqlite import is_sqlite

TOOL_LOG = "tool.log"  # a launcher's console output of its tool (see launching.py)
REPORT_SUFFIXES = (".nsys-rep", ".qdrep", ".ncu-rep")
SCAN_LINES = 10_000  # where a text format must show itself (ncu logs start with program output)


def _in_run_dir(path: Path) -> bool:
    return (path.parent.parent / "run.json").is_file()


def _looks_supported(path: Path) -> bool:
    """Whether ``path`` claims to be one of the formats (then its errors are worth showing)."""
    if path.suffix in REPORT_SUFFIXES or is_sqlite(path) or is_memory_file(path):
        return True
    if is_trace_name(path):
        return looks_like_trace(path)
    try:
        with path.open(encoding="utf-8", errors="replace", newline="") as f:
            for number, line in enumerate(f):
                line = line.rstrip("\r\n")
                if (number == 0 and is_nvml_header(line)) or is_kern_sum_header(line) or is_ncu_line(line):
                    return True
                if number >= SCAN_LINES:
                    break
    except (OSError, csv.Error):
        return False
    return False


@hookimpl
def dnn_suite_analyze_file(path: Path):
    path = Path(path)
    if path.is_dir():
        if not any(is_trace_name(p) and looks_like_trace(p) for p in path.iterdir() if p.is_file()):
            return None
        return detect_and_analyze(path)
    if not path.is_file():
        return None
    if path.name == TOOL_LOG and _in_run_dir(path):
        return None
    if path.suffix in REPORT_SUFFIXES and path.with_suffix(".sqlite").is_file():
        return None
    try:
        return detect_and_analyze(path)
    except InvalidProfileFile:
        if _looks_supported(path):
            raise
        return None
