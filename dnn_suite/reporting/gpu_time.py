"""The "where the time goes" part of ``dnn-suite report``, from any profiler's ``analysis.json``
that holds the timeline analysis (a ``step_breakdown`` table: the torch profiler's traces, or an
nsys/nvprof export): the step-time breakdown per step as stacked bars, the GPUs' temporal
breakdown, the phases of a step, and the diagnosis with its fixes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dnn_suite.reporting import plots
from dnn_suite.reporting.plots import Axes
from dnn_suite.reporting.render import Block, Table, Text
from dnn_suite.reporting.rundirs import RunDir, read_json

ImageMaker = Callable[..., list[Block]]
STEP_CATEGORIES = ("kernel", "memcpy", "memset", "communication", "runtime", "dataloader", "cpu_exec", "other")
TEMPORAL = ("compute_pct", "non_compute_pct", "idle_pct")


def _analyses(run: RunDir) -> list[tuple[str, dict[str, Any]]]:
    """(profiler, tables) of each profiler whose ``analysis.json`` (one analysis, as the profilers
    write it) holds a timeline analysis."""
    found = []
    for profiler in run.profilers:
        document = read_json(run.artefact(profiler, "analysis.json"))
        tables = document.get("tables") if isinstance(document, dict) else None
        if isinstance(tables, dict) and "diagnosis" in tables:
            found.append((profiler, tables))
    return found


def _num(value: Any, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def run_blocks(run: RunDir, image: ImageMaker) -> list[Block]:
    blocks: list[Block] = []
    for profiler, tables in _analyses(run):
        steps = tables.get("step_breakdown") or []
        if steps:
            labels = [str(row.get("step")) if "rank" not in row else f"rank {row['rank']} {row.get('step')}"
                      for row in steps]
            segments = {c: [(row.get(f"{c}_ns") or 0) / 1e6 for row in steps] for c in STEP_CATEGORIES}
            blocks.append(Text(f"{profiler}: step time by category (TensorBoard's priority: each category "
                               "counts only the time no category before it took)."))
            blocks += image(f"step_breakdown_{profiler}", f"{profiler}: step time by category (ms)",
                            plots.stacked_bars, labels, segments, Axes("ms", ""))
            blocks.append(Table(["step", *STEP_CATEGORIES, "total"],
                                [[label, *(_num(row.get(f"{c}_ns", 0) / 1e6, 2) for c in (*STEP_CATEGORIES, "total"))]
                                 for label, row in zip(labels, steps)]))
        devices = tables.get("per_device") or []
        if not devices:
            blocks.append(Text(f"{profiler}: no GPU activity in the trace (a CPU run): the step is the host's."))
        else:
            labels = [f"gpu{row['device']}" if "rank" not in row else f"rank {row['rank']} gpu{row['device']}"
                      for row in devices]
            blocks += image(f"temporal_{profiler}", f"{profiler}: GPU time (HTA temporal breakdown, %)",
                            plots.stacked_bars, labels, {k.removesuffix("_pct"): [row.get(k) or 0.0 for row in devices]
                                                         for k in TEMPORAL}, Axes("% of the span", "", xmax=100))
            blocks.append(Table(["GPU", "compute %", "non-compute %", "idle %", "idle: host wait", "utilization %",
                                 "SM efficiency %", "occupancy %"],
                                [[label, _num(row.get("compute_pct")), _num(row.get("non_compute_pct")),
                                  _num(row.get("idle_pct")), _num(row.get("idle_host_wait_share"), 2),
                                  _num(row.get("utilization_pct")), _num(row.get("sm_efficiency_pct")),
                                  _num(row.get("achieved_occupancy_pct"))] for label, row in zip(labels, devices)]))
        phases = tables.get("phases") or []
        if phases:
            blocks.append(Table(["phase", "host ms per step", "share of step", "GPU busy ms per step"],
                                [[row["phase"], _num(row["host_ns_per_step"] / 1e6, 3), _num(row.get("host_share"), 3),
                                  _num((row.get("gpu_busy_ns_per_step") or 0) / 1e6, 3)
                                  if "gpu_busy_ns_per_step" in row else "n/a"] for row in phases]))
        findings = tables.get("diagnosis") or []
        if findings:
            blocks.append(Table(["#", "finding", "evidence", "fix"],
                                [[str(f["rank"]), f["finding"], f["evidence"], f["fix"]] for f in findings]))
        else:
            blocks.append(Text(f"{profiler}: no diagnosis rule fired."))
    return blocks
