"""Analyzers: pure functions that turn a profiler's output file into numbers.

Each returns an :class:`Analysis`; :func:`detect_and_analyze` picks the analyzer from the
file's content (this backs ``dnn-suite analyze PATH``). Errors: :class:`InvalidProfileFile`
for a file that is not what the analyzer reads, :class:`ProfilerToolError` for a file that
records a failed profiler run (see :mod:`.errors`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from .base import Analysis
from .errors import InvalidProfileFile, ProfilerToolError
from .kineto import analyze_kineto, is_trace_name
from .memory import analyze_memory, is_memory_file
from .ncu import analyze_ncu, is_ncu_line
from .nsys import analyze_nsys, analyze_nsys_kern_sum, is_kern_sum_header
from .nvml import NvmlSample, analyze_nvml, is_nvml_header, read_nvml_samples, summarize_nvml, write_nvml_samples
from .nvprof import KERNEL_TABLES as NVPROF_KERNEL_TABLES
from .nvprof import analyze_nvprof, check_nvprof_output
from .sqlite import is_sqlite, open_sqlite, table_names
from .textfile import open_text
from .timeline import WINDOW_RANGE

__all__ = [
    "WINDOW_RANGE",
    "Analysis",
    "InvalidProfileFile",
    "NvmlSample",
    "ProfilerToolError",
    "analyze_kineto",
    "analyze_ncu",
    "analyze_nsys",
    "analyze_nsys_kern_sum",
    "analyze_nvml",
    "analyze_nvprof",
    "check_nvprof_output",
    "detect_and_analyze",
    "is_memory_file",
    "read_nvml_samples",
    "summarize_nvml",
    "write_nvml_samples",
]

SUPPORTED_FORMATS = (
    "a PyTorch profiler (kineto) trace .json[.gz], or a directory of them (one per rank)",
    "an nvprof .nvvp profile (SQLite)",
    "an Nsight Systems SQLite export",
    "the cuda_gpu_kern_sum CSV of nsys stats",
    "an ncu --csv log",
    "an NVML samples CSV",
    "a memory profiler's memory.json",
)
EXPECTED = "one of: " + "; ".join(SUPPORTED_FORMATS)
# Report files that need converting first.
_CONVERT_HINTS = {
    ".nsys-rep": "convert it with: nsys export --type sqlite -o OUT.sqlite FILE",
    ".qdrep": "convert it with: nsys export --type sqlite -o OUT.sqlite FILE",
    ".ncu-rep": "convert it with: ncu -i FILE --page raw --csv > OUT.csv",
}


def detect_and_analyze(path: Path) -> Analysis:
    """Analyze ``path`` with the analyzer its content calls for, with default options.

    A directory is read as one trace per rank."""
    if path.is_dir():
        return analyze_kineto(path)
    hint = _CONVERT_HINTS.get(path.suffix)
    if hint is not None:
        raise InvalidProfileFile(path, f"a binary report file, {hint}", EXPECTED)
    if is_sqlite(path):
        with closing(open_sqlite(path, EXPECTED)) as conn:
            tables = table_names(conn)
        if "StringTable" in tables and any(t in tables for t in NVPROF_KERNEL_TABLES):
            return analyze_nvprof(path)
        if "StringIds" in tables or any(t.startswith("TARGET_INFO_") for t in tables):
            return analyze_nsys(path)
        raise InvalidProfileFile(path, "an SQLite database with neither nvprof nor nsys tables", EXPECTED)
    if is_memory_file(path):
        return analyze_memory(path)
    if is_trace_name(path):
        return analyze_kineto(path)
    analyzer = _text_analyzer(path)
    if analyzer is None:
        raise InvalidProfileFile(path, "not a supported profiler output", EXPECTED)
    return analyzer(path)


def _text_analyzer(path: Path) -> Callable[[Path], Analysis] | None:
    with open_text(path, EXPECTED) as f:
        for number, raw in enumerate(f):
            line = raw.rstrip("\r\n")
            if number == 0 and is_nvml_header(line):
                return analyze_nvml
            if is_kern_sum_header(line):
                return analyze_nsys_kern_sum
            if is_ncu_line(line):
                return analyze_ncu
    return None
