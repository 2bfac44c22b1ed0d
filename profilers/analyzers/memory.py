"""The memory profiler's artefact, ``memory.json``: the tracked iterations' breakdowns, and the
numbers read from it (run.json's ``profilers.memory``, ``dnn-suite analyze``).

The file holds, per tracked batch size, the bytes per category (parameters, buffers,
gradients, optimizer_state, activations, temporaries, other, total) at the peak of the
iteration and after forward / backward / the optimizer step, the same per top-level module,
and the allocator's figures. The batch-size model (:mod:`dnn_suite.memory_model`) is fitted
here from the batch sizes listed in ``fit_batch_sizes``; the run's own batch size, when not
among them, checks it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import msgspec

from dnn_suite.atomic import write_json_atomic
from dnn_suite.memory_model import CATEGORIES, FILE_FORMAT, PHASES, TOTAL, BatchModel, fit_tracked
from dnn_suite.metrics import Metric

from .base import Analysis
from .errors import InvalidProfileFile

FORMAT = FILE_FORMAT
VERSION = 1
EXPECTED = f"a {FORMAT} JSON file (memory.json of a run's memory profiler)"
BYTES = "bytes"

#: bytes per category and their total, as the profiler writes each breakdown
_Breakdown = msgspec.defstruct("Breakdown", [(name, int) for name in (*CATEGORIES, TOTAL)])


class _Point(msgspec.Struct):
    """One tracked batch size as the profiler writes it: what the figures read, with its types."""

    peak: _Breakdown  # type: ignore[valid-type]
    end: _Breakdown  # type: ignore[valid-type]
    phases: dict[str, Optional[_Breakdown]] = {}  # type: ignore[valid-type]
    modules: dict[str, dict[str, Optional[int]]] = {}
    allocator: dict[str, int] = {}


POINT_EXPECTED = ("a point {peak: breakdown, end: breakdown, phases: {phase: breakdown or null}, modules: "
                  "{module: {figure: bytes or null}}, allocator: {figure: integer}}, each breakdown with "
                  f"{', '.join(CATEGORIES)} and {TOTAL} in bytes")
_ALLOCATOR = {
    "cuda_peak_allocated": (BYTES, "CUDA allocator: peak allocated during the tracked iteration"),
    "cuda_peak_reserved": (BYTES, "CUDA allocator: peak reserved (cached) during the tracked iteration"),
    "cuda_fragmentation": (BYTES, "CUDA allocator: peak reserved - peak allocated"),
    "cuda_alloc_retries": ("retries", "CUDA allocator: cudaMalloc retries after freeing the cache, since the process started"),
    "cuda_ooms": ("OOMs", "CUDA allocator: out-of-memory errors, since the process started"),
    "rss": (BYTES, "process resident set size after the tracked iteration"),
}


def write_memory_file(path: Path, document: dict[str, Any]) -> None:
    write_json_atomic(path, {"format": FORMAT, "version": VERSION, **document})


def is_memory_file(path: Path) -> bool:
    if path.suffix != ".json":
        return False
    try:
        with path.open(encoding="utf-8") as f:
            return f'"format": "{FORMAT}"' in f.read(200)
    except (OSError, UnicodeDecodeError):
        return False


def read_memory_file(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidProfileFile(path, f"cannot read it as JSON ({exc})", EXPECTED) from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise InvalidProfileFile(path, "no 'format' field naming it", EXPECTED)
    if document.get("version") != VERSION:
        raise InvalidProfileFile(path, f"version {document.get('version')!r}", f"version {VERSION}")
    points = document.get("points")
    if not isinstance(points, dict) or not points or not all(
            isinstance(p, dict) and isinstance(p.get("peak"), dict) and "total" in p["peak"] for p in points.values()):
        raise InvalidProfileFile(path, "'points' is missing or has a point without a 'peak' breakdown",
                                 "points: {batch size: {peak: {category: bytes, total: bytes}, ...}}")
    run_batch_size = document.get("run_batch_size")
    if str(run_batch_size) not in points:
        raise InvalidProfileFile(path, f"run_batch_size {run_batch_size!r} is none of the points' batch sizes",
                                 "run_batch_size: the batch size of one of 'points'")
    missing = [category for category in CATEGORIES if category not in points[str(run_batch_size)]["peak"]]
    if missing:
        raise InvalidProfileFile(path, f"the peak at the run's batch size has no {', '.join(missing)}",
                                 f"a peak with {', '.join(CATEGORIES)} and total")
    for batch_size, point in points.items():
        try:
            msgspec.convert(point, _Point)
        except msgspec.ValidationError as error:
            raise InvalidProfileFile(path, f"the point of batch size {batch_size}: {error}", POINT_EXPECTED) from None
    return document


def batch_model(document: dict[str, Any]) -> tuple[BatchModel | None, int | None]:
    """The fit over ``fit_batch_sizes`` and the tracked batch size that checks it (if any)."""
    peaks = {int(b): p["peak"] for b, p in document["points"].items()}
    return fit_tracked(peaks, [int(b) for b in document.get("fit_batch_sizes") or []])


def memory_metrics(document: dict[str, Any]) -> dict[str, Metric]:
    """Every figure of the file as a metric with its unit; the first four are the summary's."""
    batch = int(document["run_batch_size"])
    point = document["points"][str(batch)]
    peak, allocator = point["peak"], point.get("allocator") or {}
    at = f"at batch size {batch}"
    metrics: dict[str, Metric] = {
        "peak_total": Metric(peak["total"], BYTES, f"tracked tensor memory at the peak of the iteration, {at}"),
        "peak_activations": Metric(peak["activations"], BYTES, f"activations (kept from forward) at the peak, {at}"),
    }
    if "cuda_peak_allocated" in allocator:
        metrics["untracked"] = Metric(allocator["cuda_peak_allocated"] - peak["total"], BYTES,
                                      "CUDA peak allocated - tracked peak: what the tracker cannot see")
    elif "rss" in allocator:
        metrics["untracked"] = Metric(allocator["rss"] - point["end"]["total"], BYTES,
                                      "RSS - tracked tensors after the iteration: interpreter, libraries, "
                                      "allocator caches and workspaces the tracker cannot see")
    model, held_out = batch_model(document)
    capacity = document.get("capacity_bytes")
    if model is not None:
        largest = model.largest_batch(capacity) if capacity else None
        metrics["largest_batch_size"] = Metric(largest, "samples", f"largest batch whose predicted tracked peak fits "
                                               f"the capacity ({document.get('capacity_source', '')})")
    tracked = document.get("tracked") or []
    sizes = ", ".join(dict.fromkeys(str(t["batch_size"]) for t in tracked))
    when = "; ".join(dict.fromkeys(t["when"] for t in tracked))
    metrics["tracked_iterations"] = Metric(len(tracked), "iterations", f"batch sizes {sizes}, {when}; not measured")
    for category in (*CATEGORIES, TOTAL):
        metrics[f"peak.{category}"] = Metric(peak[category], BYTES, f"{category} at the peak, {at}")
    for phase in PHASES:
        breakdown = (point.get("phases") or {}).get(phase)
        for category in (*CATEGORIES, TOTAL) if breakdown else ():
            metrics[f"{phase}.{category}"] = Metric(breakdown[category], BYTES, f"{category} {phase.replace('_', ' ')}")
    for name, row in (point.get("modules") or {}).items():
        for key, value in row.items():
            metrics[f"module.{name}.{key}"] = Metric(value, BYTES, f"module {name}: {key.replace('_', ' ')}, {at}")
    for key, value in allocator.items():
        unit, description = _ALLOCATOR.get(key, (BYTES, key))
        metrics[key] = Metric(value, unit, description)
    if model is not None:
        metrics.update(_fit_metrics(document, model, held_out))
    return metrics


def _fit_metrics(document: dict[str, Any], model: BatchModel, held_out: int | None) -> dict[str, Metric]:
    sizes = ", ".join(map(str, model.batch_sizes))
    metrics = {"capacity": Metric(document.get("capacity_bytes"), BYTES, document.get("capacity_source", ""))}
    for category, line in model.lines.items():
        metrics[f"fit.{category}.fixed"] = Metric(round(line.fixed), BYTES, f"{category}: fixed part (batch sizes {sizes})")
        metrics[f"fit.{category}.per_sample"] = Metric(round(line.per_sample), "bytes/sample",
                                                       f"{category}: part per sample (batch sizes {sizes})")
    if held_out is not None:
        measured = document["points"][str(held_out)]["peak"]["total"]
        metrics["fit.check_batch_size"] = Metric(held_out, "samples", "tracked batch size not used for the fit")
        metrics["fit.check_predicted"] = Metric(round(model.predict(held_out)), BYTES, "predicted peak there")
        metrics["fit.check_measured"] = Metric(measured, BYTES, "tracked peak there")
        metrics["fit.check_error"] = Metric(round(100 * model.error(held_out, measured), 2) + 0.0, "%",
                                            "(predicted - measured) / measured")
    return metrics


def analyze_memory(path: Path) -> Analysis:
    document = read_memory_file(path)
    tables: dict[str, list[dict[str, Any]]] = {"peak_by_batch_size": [
        {"batch_size": int(b), **p["peak"]} for b, p in sorted(document["points"].items(), key=lambda i: int(i[0]))]}
    point = document["points"][str(document["run_batch_size"])]
    tables["phases"] = [{"phase": phase, **breakdown} for phase, breakdown in
                        [("peak", point["peak"]), *((point.get("phases") or {}).items())] if breakdown]
    tables["modules"] = [{"module": name, **row} for name, row in (point.get("modules") or {}).items()]
    metrics = {k: m for k, m in memory_metrics(document).items()
               if not k.startswith(("peak.", "module.", *(f"{p}." for p in PHASES)))}
    # every figure of the three tables is bytes (their first column names the row)
    units = {name: {column: BYTES for row in rows for column in list(row)[1:]} for name, rows in tables.items()}
    return Analysis("memory", path, metrics, tables, column_units=units)
