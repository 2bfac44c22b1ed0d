"""Batch-size sweeps: ``dnn-suite run MODEL --batch-size 1,2,4,8`` (or ``batch_sizes`` in
suite.yaml), like the original benchmark's ``profile.sh``.

Every point runs in its own process (``python -m dnn_suite run ... --batch-size B --output
SWEEP_DIR --json``, an argument list, no shell), so an out-of-memory error, a crash or a
kill in one point is recorded — status, reason, exit code, the tail of its stderr — and the
sweep goes on with the next point. The resolved configuration is written once to the sweep
directory's ``suite.yaml`` and every point runs that entry, so all points share exactly the
same settings but for the batch size and the profilers.

Profilers that cannot share a run (two launchers, such as ``nsys`` and ``nsight``, or a
launcher and a sampler it conflicts with) run as separate *passes* of each point, as
``profile.sh`` ran nvprof and ncu one after the other; see :func:`profiler_passes`.

The sweep directory ``<output>/<time>_sweep_<model>-<variant>/`` holds every point's run
directory, its console log (``bs<B>[_<profilers>].log``) and ``sweep.json``: ``runs`` (the
run directories relative to the sweep, what ``dnn-suite report`` reads) and ``points``; with
the memory profiler, ``memory_fit``: memory = fixed + per-sample x batch size fitted on every
batch size but the largest, its error there and the largest batch that fits (see
:func:`dnn_suite.reporting.memory.sweep_fit`).
"""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from dnn_suite import runstate, signals
from dnn_suite.atomic import to_json_text, write_atomic, write_json_atomic
from dnn_suite.config import RunConfig, combination_error
from dnn_suite.output_dir import SCHEMA_VERSION, new_run_dir
from dnn_suite.registry import Registry
from dnn_suite.reporting import memory
from dnn_suite.reporting.headline import headlines
from dnn_suite.reporting.rundirs import RUN_FILE, SWEEP_FILE, load_run
from dnn_suite.runner import Run

SUITE_FILE = "suite.yaml"
TAIL_LINES = 20
# The table shows these core headlines and every profiler's (sweep.json keeps them all).
TABLE_CORE = ("throughput", "step_time_median")
# Settings a point gets from its command line rather than from the sweep's suite.yaml entry.
_PER_POINT = ("batch_size", "batch_sizes", "profilers", "output", "benchmark")


@dataclasses.dataclass
class Point:
    """One batch size under one pass of profilers, and what became of it."""

    batch_size: int
    profilers: list[str]
    status: str = "pending"
    """ok, failed (the run recorded its failure), out_of_memory, crashed, interrupted"""
    reason: str | None = None
    exit_code: int | None = None
    stderr_tail: str = ""
    run_dir: str | None = None
    """relative to the sweep directory; None when the point died before creating it"""
    log: str = ""
    metrics: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    """headline metrics (``dnn_suite.reporting.headline``): key -> {label, value, unit}"""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def profiler_passes(profilers: list[str], registry: Registry) -> list[list[str]]:
    """Split the chosen profilers into as few runs as needed, each a valid combination.

    First fit, in the order given: each profiler joins the first pass it can share a run with
    (at most one launcher, no declared conflict), else opens a new one. ``nsys, nsight, nvml``
    gives ``[nsys, nvml]`` and ``[nsight]``; no profilers gives one pass without any.
    """
    passes: list[list[str]] = []
    for name in profilers:
        for chosen in passes:
            if combination_error([*chosen, name], registry) is None:
                chosen.append(name)
                break
        else:
            passes.append([name])
    return passes or [[]]


def _suite_entry(config: RunConfig) -> dict[str, Any]:
    """The resolved settings every point shares, as a suite.yaml benchmark entry."""
    entry = {key: value for key, value in config.to_json().items() if key not in _PER_POINT and value is not None}
    return {"model": config.model, **entry}


def _classify(code: int, document: dict[str, Any] | None, tail: str) -> tuple[str, str | None]:
    """(status, reason) of a finished point from its exit code, run.json and stderr."""
    error = (document or {}).get("error")
    recorded = (document or {}).get("status")
    if code == 0 and recorded == "ok":
        return "ok", None
    stopped = {128 + s for s in signals.HANDLED} | {-s for s in signals.HANDLED}
    if code in stopped or recorded == "interrupted":
        return "interrupted", error or signals.reason()
    if "out of memory" in f"{error} {tail}".lower():
        return "out_of_memory", error or _last_error_line(tail)
    if recorded == "failed":
        return "failed", error
    if code < 0:
        name = signal.Signals(-code).name
        hint = " (the kernel's out-of-memory killer sends SIGKILL)" if -code == signal.SIGKILL else ""
        return "crashed", f"killed by {name}{hint}"
    return "crashed", _last_error_line(tail) or f"exit code {code}"


def _last_error_line(tail: str) -> str | None:
    lines = [line for line in tail.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or [None])[-1]


class Sweep:
    """A sweep's directory, its points and sweep.json."""

    def __init__(self, config: RunConfig, registry: Registry) -> None:
        assert config.batch_sizes
        self.config = config
        self.passes = profiler_passes(config.profilers, registry)
        for profilers in self.passes:  # refuse a missing tool, or a batch size too small, before anything runs
            smallest = dataclasses.replace(config, batch_sizes=None, batch_size=min(config.batch_sizes),
                                           profilers=profilers)
            Run(smallest, registry).preflight()
        self.points = [Point(size, profilers) for size in config.batch_sizes for profilers in self.passes]
        self.dir = new_run_dir(config.output, f"sweep_{config.model}-{config.variant}")
        self.entry = config.benchmark or "sweep"
        write_atomic(self.dir / SUITE_FILE, yaml.safe_dump({"benchmarks": {self.entry: _suite_entry(config)}},
                                                           sort_keys=False))
        self.document: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION, "status": "running", "started_at": _now(), "finished_at": None,
            "command": sys.argv, "process": runstate.this_process(), "model": config.model, "variant": config.variant,
            "batch_sizes": config.batch_sizes, "passes": self.passes, "runs": [], "points": [],
        }

    def save(self) -> None:
        self.document["points"] = [point.to_json() for point in self.points]
        self.document["runs"] = [p.run_dir for p in self.points if p.run_dir]
        write_json_atomic(self.dir / SWEEP_FILE, self.document)

    def run_point(self, point: Point) -> None:
        """Run one point in its own process and record what became of it."""
        command = [sys.executable, "-m", "dnn_suite", "run", "--config", str(self.dir / SUITE_FILE), self.entry,
                   "--batch-size", str(point.batch_size), "--output", str(self.dir), "--json"]
        if point.profilers:
            command += ["--profiler", ",".join(point.profilers)]
        log = self.dir / (f"bs{point.batch_size}" + "".join(f"_{p}" for p in point.profilers) + ".log")
        before = set(self.dir.iterdir())
        with open(log, "wb") as stderr:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
            point.exit_code = signals.wait_for(process)
        point.log = log.name
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        point.stderr_tail = "\n".join(lines[-TAIL_LINES:])
        created = [p for p in set(self.dir.iterdir()) - before if (p / RUN_FILE).is_file()]
        run = load_run(created[0]) if created else None
        point.status, point.reason = _classify(point.exit_code, run.document if run else None, point.stderr_tail)
        if run is None:
            return
        point.run_dir = run.name
        point.metrics = {h.key: {"label": h.label, "value": v, "unit": h.unit} for h, v in headlines(run)}
        if run.document["status"] == "running":  # killed before it could record its end
            run.document.update(status=runstate.CRASHED, error=point.reason, finished_at=_now())
            write_json_atomic(run.path / RUN_FILE, run.document)

    def execute(self, echo: bool) -> int:
        """Run every point in turn; stop early only when the user interrupts."""
        self.save()
        try:
            for index, point in enumerate(self.points, 1):
                if echo:
                    passes = f" [{', '.join(point.profilers)}]" if point.profilers else ""
                    print(f"dnn-suite: sweep point {index}/{len(self.points)}: batch size {point.batch_size}{passes}",
                          file=sys.stderr)
                self.run_point(point)
                self.save()
                if echo:
                    print(f"dnn-suite: -> {point.status}" + (f": {point.reason}" if point.reason else ""),
                          file=sys.stderr)
                if point.status == "interrupted":
                    break
        except KeyboardInterrupt:  # between two points: the points run so far are recorded
            self.document["error"] = signals.reason()
        statuses = {point.status for point in self.points}
        stopped = "interrupted" in statuses or self.document.get("error")
        status = "interrupted" if stopped else "ok" if statuses == {"ok"} else "failed"
        runs = [load_run(self.dir / point.run_dir) for point in self.points if point.run_dir]
        self.document.update(status=status, finished_at=_now(), memory_fit=memory.sweep_fit(runs))
        self.save()
        return {"ok": 0, "failed": 1, "interrupted": signals.exit_code()}[status]


def run_sweep(config: RunConfig, registry: Registry, *, as_json: bool) -> int:
    """``dnn-suite run`` with several batch sizes: run the sweep, print sweep.json or the table."""
    sweep = Sweep(config, registry)
    if not as_json:
        print(f"dnn-suite: sweep of {config.model} {config.variant} over batch sizes "
              f"{', '.join(map(str, config.batch_sizes or []))}, {len(sweep.passes)} pass(es) each -> {sweep.dir}",
              file=sys.stderr)
    code = sweep.execute(echo=not as_json)
    if as_json:
        sys.stdout.write(to_json_text(sweep.document))
    else:
        print(format_sweep(sweep.document, sweep.dir))
    return code


def format_sweep(document: dict[str, Any], sweep_dir: Path) -> str:
    """The sweep's summary table: one row per point, a column per headline metric, then the
    reason of every point that did not finish."""
    points = document["points"]
    columns: dict[str, str] = {}
    for point in points:
        for key, metric in point["metrics"].items():
            if key in TABLE_CORE or "." in key:  # profiler headlines are "<profiler>.<metric>"
                columns.setdefault(key, f"{metric['label']} ({metric['unit']})" if metric["unit"] else metric["label"])
    header = ["batch", "profilers", "status", *columns.values()]
    rows = [header]
    for point in points:
        values = [_cell(point["metrics"].get(key, {}).get("value")) for key in columns]
        rows.append([str(point["batch_size"]), ",".join(point["profilers"]) or "-", point["status"], *values])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    for point in points:
        if point["status"] != "ok":
            lines.append(f"bs {point['batch_size']} {point['status']}: {point['reason']} (log: {point['log']})")
    if document.get("memory_fit"):
        fit = document["memory_fit"]
        total = fit["lines"]["total"]
        lines.append(f"memory fit on batch sizes {', '.join(map(str, fit['batch_sizes']))}: {total['fixed'] / 2**20:,.1f} MiB"
                     f" + {total['per_sample'] / 2**20:,.2f} MiB per sample. " + " ".join(fit["notes"]))
    lines.append(f"sweep {document['status']}: {sweep_dir}")
    return "\n".join(lines)


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
