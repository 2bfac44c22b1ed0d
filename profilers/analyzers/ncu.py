"""Nsight Compute ``--csv`` logs: GPU core utilization per core type.

Utilization of a core type = sum_k cycles_k * pct_k / sum_k cycles_k over all profiled kernels
k, where pct_k is the kernel's percentage of peak for that pipe and cycles_k its
``gpc__cycles_elapsed.max``: the mean over the time kernels run, not over wall time (multiply
by the busy fraction from nsys for that).

The log is what ``ncu --csv ... | tee LOG`` captured: the program's own output and
``==PROF==`` lines around one or more CSV tables, each starting with a header line whose first
field is ``"ID"``. Two layouts are read:

* long (the default details page): one row per kernel launch and metric, with "Metric Name",
  "Metric Unit" and "Metric Value" columns; any of the known column sets (older versions put
  "Kernel Time" after "Kernel Name", newer ones add Block Size..CC and trailing Rule columns);
* wide (``--page raw``): one row per launch, one column per metric (names contain ``__``),
  and a second row with the units.

Launch IDs restart in every profiled process, so a launch is identified by (Process ID, ID).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from dnn_suite.metrics import Metric

from .base import Analysis, Row
from .errors import InvalidProfileFile, ProfilerToolError
from .ncu_metrics import (
    CORE_TYPES,
    CYCLES_METRIC,
    DURATION_METRIC,
    EXTRA_METRICS,
    core_metric_candidates,
)
from .textfile import open_text, parse_number

EXPECTED = 'the output of ncu --csv (a CSV header line starting with "ID")'
PERMISSION_ERROR = "ERR_NVGPUCTRPERM"
INIT_FAILURE = "Failed to initialize the profiler"
NO_KERNELS = "No kernels were profiled"
PERMISSION_FIX = (
    "Run the benchmark as root (administrator), or let every user read the counters: put "
    "'options nvidia NVreg_RestrictProfilingToAdminUsers=0' in a file under /etc/modprobe.d/ and "
    "reload the nvidia kernel module or reboot; see https://developer.nvidia.com/ERR_NVGPUCTRPERM"
)
# ncu scales units for display ("usecond", "Mcycle", "Kbyte"); values are brought back to
# nanoseconds, cycles and bytes.
_SCALED_UNIT = re.compile(r"([KMGTmun]?)(cycle|second|byte)")
_PREFIX = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "m": 1e-3, "u": 1e-6, "n": 1e-9}
_BASE_FACTOR = {"cycle": 1.0, "second": 1e9, "byte": 1.0}


@dataclass
class KernelLaunch:
    process_id: str
    launch_id: str
    name: str
    device: str | None
    metrics: dict[str, float | None] = field(default_factory=dict)


@dataclass
class NcuLog:
    launches: list[KernelLaunch]
    messages: list[str]
    """``==ERROR==`` and ``==WARNING==`` lines, and lines naming a known failure."""
    has_header: bool


def analyze_ncu(path: Path, core_metrics: Mapping[str, str] | None = None) -> Analysis:
    """Analyze an ``ncu --csv`` log.

    ``core_metrics`` maps core type -> metric name (see
    :func:`~.ncu_metrics.core_utilization_metrics`); by default, for each core type the first
    of its known names that the log contains. Extra metrics are reported when present.
    """
    log = parse_ncu_log(path)
    if not log.launches:
        _raise_failure(path, log)
    launches = log.launches
    if all(launch.metrics.get(CYCLES_METRIC) is None for launch in launches):
        raise InvalidProfileFile(path, f"no {CYCLES_METRIC} values", f"{EXPECTED}, profiled with {CYCLES_METRIC}")
    chosen = dict(core_metrics) if core_metrics is not None else _find_core_metrics(launches)
    weighted = {
        f"{core}_utilization": (metric, f"{CORE_TYPES.get(core, core)} utilization") for core, metric in chosen.items()
    }
    weighted |= {key: (metric, description) for key, metric, description in EXTRA_METRICS}

    metrics = {
        "kernel_count": Metric(len(launches), "kernels", "kernel launches profiled"),
        "cycles": Metric(
            round(sum(launch.metrics.get(CYCLES_METRIC) or 0 for launch in launches)),
            "cycles",
            f"sum of {CYCLES_METRIC}",
        ),
    }
    # Core metrics asked for explicitly are reported even when missing (as None).
    present = {
        key: metric
        for key, (metric, _) in weighted.items()
        if _in_log(launches, metric) or (core_metrics is not None and metric in core_metrics.values())
    }
    for key, metric in present.items():
        value, count = _cycle_weighted_mean(launches, metric)
        description = f"{weighted[key][1]}: {metric}, cycle-weighted mean over {count} kernels"
        metrics[key] = Metric(value, "%", description)
    has_duration = _in_log(launches, DURATION_METRIC)
    if has_duration:
        total = sum(launch.metrics.get(DURATION_METRIC) or 0 for launch in launches)
        metrics["kernel_time"] = Metric(total, "ns", f"sum of {DURATION_METRIC}")

    tables = {"per_kernel": [_kernel_row(launch, present, has_duration) for launch in launches]}
    if log.messages:
        tables["messages"] = [{"message": message} for message in log.messages]
    return Analysis("ncu", path, metrics, tables)


def parse_ncu_log(path: Path) -> NcuLog:
    """Kernel launches with their metric values (ns, cycles, bytes or as printed) from a log."""
    launches: dict[tuple[str, str], KernelLaunch] = {}
    messages: list[str] = []
    table: _CsvTable | None = None
    with open_text(path, EXPECTED) as f:
        for raw in f:
            line = raw.rstrip("\r\n")
            if line.startswith(("==ERROR==", "==WARNING==")) or PERMISSION_ERROR in line or INIT_FAILURE in line:
                messages.append(line.strip())
            elif line.startswith('"'):
                fields = next(csv.reader([line]))
                if fields[0] == "ID":
                    table = _CsvTable(fields)
                elif table is not None and len(fields) == len(table.columns):
                    table.add(fields, launches)
    return NcuLog(list(launches.values()), messages, table is not None)


class _CsvTable:
    """One CSV table of the log: its columns, and for the wide layout the units row."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = columns
        self.index = {name: i for i, name in enumerate(columns)}
        self.long = "Metric Name" in self.index and "Metric Value" in self.index
        self.units = [""] * len(columns)

    def add(self, fields: list[str], launches: dict[tuple[str, str], KernelLaunch]) -> None:
        if not fields[0].isdigit():
            if fields[0] == "" and not self.long:
                self.units = fields
            return
        process_id = self._get(fields, "Process ID") or ""
        launch = launches.setdefault(
            (process_id, fields[0]),
            KernelLaunch(process_id, fields[0], self._get(fields, "Kernel Name") or "", self._get(fields, "Device")),
        )
        if self.long:
            name = fields[self.index["Metric Name"]]
            launch.metrics[name] = _value(fields[self.index["Metric Value"]], self._get(fields, "Metric Unit") or "")
        else:
            for i, column in enumerate(self.columns):
                if "__" in column:
                    launch.metrics[column] = _value(fields[i], self.units[i])

    def _get(self, fields: list[str], column: str) -> str | None:
        i = self.index.get(column)
        return None if i is None else fields[i]


def _value(text: str, unit: str) -> float | None:
    value = parse_number(text)
    scaled = _SCALED_UNIT.fullmatch(unit)
    if value is None or scaled is None:
        return value
    return value * _PREFIX[scaled.group(1)] * _BASE_FACTOR[scaled.group(2)]


def _raise_failure(path: Path, log: NcuLog) -> NoReturn:
    """Explain a log without kernel rows, from the most to the least specific cause."""
    if any(PERMISSION_ERROR in m for m in log.messages):
        raise ProfilerToolError(
            "ncu", path, f"no permission to access the GPU performance counters ({PERMISSION_ERROR})", PERMISSION_FIX
        )
    init = next((m for m in log.messages if INIT_FAILURE in m), None)
    if init is not None:
        raise ProfilerToolError(
            "ncu",
            path,
            f"the profiler could not start: {_strip_prefix(init)}",
            "Check that the NVIDIA driver is loaded and new enough for this Nsight Compute (nvidia-smi, ncu --version)",
        )
    if log.has_header or any(NO_KERNELS in m for m in log.messages):
        raise ProfilerToolError(
            "ncu",
            path,
            "no kernels were profiled",
            "Check that the program launches CUDA kernels after cudaProfilerStart (with --profile-from-start off) "
            "and that the -k / --nvtx filters match them",
        )
    errors = [m for m in log.messages if m.startswith("==ERROR==")]
    if errors:
        raise ProfilerToolError("ncu", path, _strip_prefix(errors[0]), "See the log for the details")
    raise InvalidProfileFile(path, 'no CSV header line starting with "ID"', EXPECTED)


def _strip_prefix(message: str) -> str:
    return re.sub(r"^==[A-Z]+==\s*", "", message)


def _find_core_metrics(launches: list[KernelLaunch]) -> dict[str, str]:
    names = set().union(*(launch.metrics for launch in launches))
    chosen = {}
    for core, candidates in core_metric_candidates().items():
        found = next((name for name in candidates if name in names), None)
        if found is not None:
            chosen[core] = found
    return chosen


def _in_log(launches: list[KernelLaunch], metric: str) -> bool:
    return any(metric in launch.metrics for launch in launches)


def _cycle_weighted_mean(launches: list[KernelLaunch], metric: str) -> tuple[float | None, int]:
    """(mean of ``metric`` weighted by cycles, number of kernels having both values)."""
    pairs = [
        (launch.metrics[CYCLES_METRIC], launch.metrics[metric])
        for launch in launches
        if launch.metrics.get(CYCLES_METRIC) is not None and launch.metrics.get(metric) is not None
    ]
    total = sum(cycles for cycles, _ in pairs)
    return (sum(cycles * value for cycles, value in pairs) / total if total else None), len(pairs)


def _kernel_row(launch: KernelLaunch, present: dict[str, str], has_duration: bool) -> Row:
    row: Row = {
        "process_id": launch.process_id,
        "id": launch.launch_id,
        "device": launch.device,
        "cycles": launch.metrics.get(CYCLES_METRIC),
    }
    row |= {key: launch.metrics.get(metric) for key, metric in present.items()}
    if has_duration:
        row["duration_ns"] = launch.metrics.get(DURATION_METRIC)
    row["name"] = launch.name
    return row


def is_ncu_line(line: str) -> bool:
    """Whether a line can only come from ncu: its CSV header or one of its ``==...==`` lines."""
    return line.startswith(('"ID","Process ID"', "==PROF==", "==ERROR==", "==WARNING=="))
