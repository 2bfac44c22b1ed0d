"""A sweep's summary table (``dnn-suite run`` of a sweep, ``dnn-suite status SWEEP_DIR``): one row
per point with the values of the settings the sweep varies, its status and its headline
metrics, then why each point that did not end ok ended as it did, and the memory fit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dnn_suite.reporting.render import Table, text_table
from dnn_suite.settings.sweep_axes import describe, value_text

# The table shows these core headlines and every profiler's (sweep.json keeps them all).
TABLE_CORE = ("throughput", "step_time_median")


def format_sweep(document: dict[str, Any], sweep_dir: Path) -> str:
    """The sweep's summary table: one row per point, a column per swept setting (the batch size
    first) and per headline metric, then the reason of every point that did not finish."""
    points = document["points"]
    columns: dict[str, str] = {}
    for point in points:
        for key, metric in point["metrics"].items():
            if key in TABLE_CORE or "." in key:  # profiler headlines are "<profiler>.<metric>"
                columns.setdefault(key, f"{metric['label']} ({metric['unit']})" if metric["unit"] else metric["label"])
    swept = [key for key in document.get("sweep") or {} if key != "batch_size"]
    jobs = (document.get("executor") or {}).get("name", "local") != "local"  # a scheduler's job ids
    header = ["batch", *swept, "profilers", "status", *(["job"] if jobs else []), *columns.values()]
    rows = []
    for point in points:
        values = [_cell(point["metrics"].get(key, {}).get("value")) for key in columns]
        settings = [value_text(point["settings"][key]) for key in swept]
        job = [point.get("job_id") or "-"] if jobs else []
        rows.append([str(point["batch_size"]), *settings, ",".join(point["profilers"]) or "-", point["status"], *job,
                     *values])
    lines = [text_table(Table(header, rows))]
    for point in points:
        if point["status"] not in ("ok", "pending", "running"):  # why each ended point is not ok
            others = describe({key: point["settings"][key] for key in swept})
            lines.append(f"bs {point['batch_size']}{' ' + others if others else ''} {point['status']}: "
                         f"{point['reason']} (log: {point['log']})")
    if document.get("memory_fit"):
        fit = document["memory_fit"]
        total = fit["lines"]["total"]
        lines.append(f"memory fit on batch sizes {', '.join(map(str, fit['batch_sizes']))}: {total['fixed'] / 2**20:,.1f} MiB"
                     f" + {total['per_sample'] / 2**20:,.2f} MiB per sample. " + " ".join(fit["notes"]))
    lines.append(f"sweep {document['status']}: {sweep_dir}")
    return "\n".join(lines)


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"
