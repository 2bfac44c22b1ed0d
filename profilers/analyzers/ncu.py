"""Nsight Compute ``--csv`` logs: GPU core utilization per core type.

Utilization of a core type = sum_k cycles_k * pct_k / sum_k cycles_k over all profiled kernels
k, where pct_k is the kernel's percentage of peak for that pipe and cycles_k its
``gpc__cycles_elapsed.max``: the mean over the time kernels run, not over wall time (multiply
by the busy fraction from nsys for that).

The log is what ``ncu --csv ... | tee LOG`` captured: the program's own output and
``==PROF==`` lines around one or more CSV tables, each starting with a header line whose first
field is ``"ID"``. Three layouts are read:

* long (the default details page): one row per kernel launch and metric, with "Metric Name",
  "Metric Unit" and "Metric Value" columns; any of the known column sets (older versions put
  "Kernel Time" after "Kernel Name", newer ones add Block Size..CC and trailing Rule columns,
  which metric rows may leave out after the value);
* wide (``--page raw``): one row per launch, one column per metric (names contain ``__``),
  and a second row with the units;
* per-kernel summary (``--print-summary per-kernel``): one row per kernel and metric, with
  "Invocations" and the "Minimum", "Maximum" and "Average" over them, and no "ID". Each kernel
  counts as its invocations, each with the average values: totals (cycles, kernel time) are
  exact, the cycle-weighted means use the per-kernel averages of cycles and percentages.

Units are read as :mod:`.ncu_units` says, and so are numbers written in another locale.

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
from .ncu_units import UnknownUnit, canonical, number_style, parse_number
from .textfile import open_text

EXPECTED = 'the output of ncu --csv (a CSV header line starting with "ID", or "Process ID" for --print-summary per-kernel)'
PERMISSION_ERROR = "ERR_NVGPUCTRPERM"
INIT_FAILURE = "Failed to initialize the profiler"
NO_KERNELS = "No kernels were profiled"
PERMISSION_FIX = (
    "Run the benchmark as root (administrator), or let every user read the counters: put "
    "'options nvidia NVreg_RestrictProfilingToAdminUsers=0' in a file under /etc/modprobe.d/ and "
    "reload the nvidia kernel module or reboot; see https://developer.nvidia.com/ERR_NVGPUCTRPERM"
)
INVOCATIONS = "Invocations"


@dataclass
class KernelLaunch:
    process_id: str
    launch_id: str
    name: str
    device: str | None
    metrics: dict[str, float | None] = field(default_factory=dict)
    invocations: int = 1
    """Launches this entry stands for: 1, or a per-kernel summary's count (its metrics are averages)."""


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
        "kernel_count": Metric(sum(launch.invocations for launch in launches), "kernels", "kernel launches profiled"),
        "cycles": Metric(round(_total(launches, CYCLES_METRIC)), "cycles", f"sum of {CYCLES_METRIC}"),
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
        metrics["kernel_time"] = Metric(_total(launches, DURATION_METRIC), "ns", f"sum of {DURATION_METRIC}")

    tables = {"per_kernel": [_kernel_row(launch, present, has_duration) for launch in launches]}
    if log.messages:
        tables["messages"] = [{"message": message} for message in log.messages]
    return Analysis("ncu", path, metrics, tables)


def parse_ncu_log(path: Path) -> NcuLog:
    """Kernel launches with their metric values in canonical units (ns, cycles, bytes, ...)."""
    parser = _LogParser()
    messages: list[str] = []
    with open_text(path, EXPECTED) as f:
        for raw in f:
            line = raw.rstrip("\r\n")
            if line.startswith(("==ERROR==", "==WARNING==")) or PERMISSION_ERROR in line or INIT_FAILURE in line:
                messages.append(line.strip())
            elif line.startswith('"'):
                parser.add(next(csv.reader([line])))
    return NcuLog(parser.finish(path), messages, parser.table is not None)


class _LogParser:
    """The CSV tables of a log. Values are kept as text until the whole log is read, because
    which locale wrote the numbers shows only in some of them."""

    def __init__(self) -> None:
        self.table: _CsvTable | None = None
        self.launches: dict[tuple[str, ...], KernelLaunch] = {}
        self.cells: list[tuple[KernelLaunch, str, str, str]] = []  # launch, metric, value, unit
        self.counts: dict[tuple[str, ...], tuple[KernelLaunch, str]] = {}  # per-kernel summary: invocations

    def add(self, fields: list[str]) -> None:
        if fields[0] == "ID" or (fields[0] == "Process ID" and INVOCATIONS in fields):
            self.table = _CsvTable(fields)
        elif self.table is not None and (row := self.table.fit(fields)) is not None:
            self.table.add(row, self)

    def launch(self, key: tuple[str, ...], process_id: str, launch_id: str, name: str,
               device: str | None) -> KernelLaunch:
        return self.launches.setdefault(key, KernelLaunch(process_id, launch_id, name, device))

    def finish(self, path: Path) -> list[KernelLaunch]:
        try:
            style = number_style([text for _, _, text, _ in self.cells] + [text for _, text in self.counts.values()])
        except ValueError as e:
            raise InvalidProfileFile(path, f"cannot read the numbers: {e}", EXPECTED) from e
        for launch, text in self.counts.values():
            count = parse_number(text, style)
            if count is None or count < 1 or count != int(count):
                raise InvalidProfileFile(path, f"{INVOCATIONS} {text!r} of kernel {launch.name!r}",
                                         f"{EXPECTED}, with a positive whole number of invocations")
            launch.invocations = int(count)
        for launch, metric, text, unit in self.cells:
            value = parse_number(text, style)
            if value is None:
                launch.metrics[metric] = None
                continue
            try:
                _, factor = canonical(unit)
            except UnknownUnit as e:
                raise InvalidProfileFile(path, f"metric {metric} has the unit {unit!r}, which ncu is not known to write",
                                         f"{EXPECTED}; units such as ns, usecond, byte, GB/s, cycle, %") from e
            launch.metrics[metric] = value * factor
        return list(self.launches.values())


class _CsvTable:
    """One CSV table of the log: its columns, and for the wide layout the units row."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = columns
        self.index = {name: i for i, name in enumerate(columns)}
        self.summary = INVOCATIONS in self.index
        self.value_column = "Average" if self.summary else "Metric Value"
        self.long = "Metric Name" in self.index and self.value_column in self.index
        self.units = [""] * len(columns)

    def add(self, fields: list[str], parser: _LogParser) -> None:
        if not fields[0].isdigit():
            if fields[0] == "" and not self.long:
                self.units = fields
            return
        process_id = self._get(fields, "Process ID") or ""
        name = self._get(fields, "Kernel Name") or ""
        if self.summary:  # one row per kernel (and metric): no launch ID
            key = (process_id, name, self._get(fields, "Block Size") or "", self._get(fields, "Grid Size") or "")
            launch = parser.launch(key, process_id, "", name, self._get(fields, "Device"))
            parser.counts.setdefault(key, (launch, fields[self.index[INVOCATIONS]]))
        else:
            launch = parser.launch((process_id, fields[0]), process_id, fields[0], name, self._get(fields, "Device"))
        if self.long:
            metric = fields[self.index["Metric Name"]]
            parser.cells.append((launch, metric, fields[self.index[self.value_column]],
                                 self._get(fields, "Metric Unit") or ""))
        else:
            parser.cells += [(launch, column, fields[i], self.units[i])
                             for i, column in enumerate(self.columns) if "__" in column]

    def fit(self, fields: list[str]) -> list[str] | None:
        """The row with one field per column, or None for a line that is not a row of this table.

        Versions that add the trailing Rule columns end a long-layout metric row after its value
        (``...,"Metric Value","1.59",``), leaving the empty Rule fields out; such a row is padded."""
        if len(fields) == len(self.columns):
            return fields
        if self.long and self.index[self.value_column] < len(fields) < len(self.columns):
            return fields + [""] * (len(self.columns) - len(fields))
        return None

    def _get(self, fields: list[str], column: str) -> str | None:
        i = self.index.get(column)
        return None if i is None else fields[i]


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


def _total(launches: list[KernelLaunch], metric: str) -> float:
    return sum((launch.metrics.get(metric) or 0) * launch.invocations for launch in launches)


def _cycle_weighted_mean(launches: list[KernelLaunch], metric: str) -> tuple[float | None, int]:
    """(mean of ``metric`` weighted by cycles, number of kernel launches having both values)."""
    pairs = [
        (launch.metrics[CYCLES_METRIC] * launch.invocations, launch.metrics[metric], launch.invocations)  # type: ignore[operator]
        for launch in launches
        if launch.metrics.get(CYCLES_METRIC) is not None and launch.metrics.get(metric) is not None
    ]
    total = sum(cycles for cycles, _, _ in pairs)
    mean = sum(cycles * value for cycles, value, _ in pairs) / total if total else None
    return mean, sum(count for _, _, count in pairs)


def _kernel_row(launch: KernelLaunch, present: dict[str, str], has_duration: bool) -> Row:
    row: Row = {
        "process_id": launch.process_id,
        "id": launch.launch_id,
        "device": launch.device,
        "cycles": launch.metrics.get(CYCLES_METRIC),
        "invocations": launch.invocations,
    }
    row |= {key: launch.metrics.get(metric) for key, metric in present.items()}
    if has_duration:
        row["duration_ns"] = launch.metrics.get(DURATION_METRIC)
    row["name"] = launch.name
    return row


def is_ncu_line(line: str) -> bool:
    """Whether a line can only come from ncu: its CSV header or one of its ``==...==`` lines."""
    return line.startswith(('"ID","Process ID"', '"Process ID","Kernel Name"', "==PROF==", "==ERROR==", "==WARNING=="))
