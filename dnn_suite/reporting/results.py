"""``dnn-suite results DIR...``: every run and sweep under the given directories as one table.

A row per run directory found under the directories (recursively; a run's profiler folders are
not searched) and per sweep point that ended before it created one: model, variant, scenario,
batch size, device, the settings that differ between the runs (:func:`differing_settings`),
throughput, median step time, peak memory, mAP and top-1 where evaluated, and status. Filtered
(``--where``), sorted (``--sort``), and printed or written as a table, CSV, JSON, Markdown or an
HTML page with a chart (:mod:`dnn_suite.reporting.results_output`).

:func:`collect` returns the rows as dicts (the Python API builds on it), :func:`to_dataframe` as a
pandas DataFrame where pandas is installed. Nothing here imports torch.
"""

from __future__ import annotations

import json
import operator
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml

from dnn_suite.errors import UsageError, reason
from dnn_suite.reporting.headline import headlines
from dnn_suite.reporting.rundirs import RUN_FILE, SWEEP_FILE, flatten, load_run

#: the columns every row has, before the settings that differ
FIXED = ("model", "variant", "scenario", "batch_size", "device")
#: headline metrics (dnn_suite.reporting.headline keys) and their columns, after the settings
METRICS = {"throughput": "throughput", "step_time_median": "step_time_median_ms", "latency_p99": "latency_p99_ms",
           "compile_time": "compile_time_s", "max_rss": "peak_rss_mib", "cuda_max_allocated": "peak_cuda_mib",
           "evaluation.mAP": "mAP", "evaluation.top1": "top1"}
#: the columns after the metrics
LAST = ("status", "error", "run", "sweep")
#: settings that are bookkeeping, not what was measured: never a column
NOT_SETTINGS = ("output", "benchmark", "batch_sizes", "sweep", "executor", "slurm", "profiler_options")
#: a setting added after runs were recorded: a run.json without it ran with this value
RECORDED_SINCE = {"scenario": "train"}
_CONDITION = re.compile(r"^([\w.]+)\s*(!=|>=|<=|=|>|<)(.*)$")
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "!=": operator.ne, ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


@dataclass
class _Found:
    """One row before the settings columns are chosen: its fixed and metric columns, and its whole
    configuration flattened (``model_options.amp``) for the settings that differ and for ``--where``."""

    row: dict[str, Any]
    config: dict[str, Any]


def collect(paths: list[str | Path], where: list[str] | None = None, sort: str | None = None,
            descending: bool = False) -> list[dict[str, Any]]:
    """The rows of every run and sweep under ``paths``, those matching every ``where`` condition
    (``model=resnet18``, ``model_options.amp=true``, ``throughput>100``), sorted by the column
    ``sort``; each row has the same keys, in the table's order."""
    found = [item for path in paths for item in _find(Path(path))]
    if not found:
        raise UsageError(f"{', '.join(map(str, paths))}: no run directory (no {RUN_FILE}) under "
                         f"{'it' if len(paths) == 1 else 'them'}")
    for condition in where or []:
        matches = _condition(condition, found)
        found = [item for item in found if matches(item)]
    settings = differing_settings([item.config for item in found])
    rows = [_row(item, settings) for item in found]
    if sort is not None:
        rows = sort_rows(rows, sort, descending)
    return rows


def _find(root: Path) -> Iterator[_Found]:
    """Run directories under ``root`` (in name order) and sweep points without one."""
    if not root.is_dir():
        raise UsageError(f"{root}: no such directory")
    for folder, subfolders, files in os.walk(root):
        here = Path(folder)
        subfolders.sort()
        if RUN_FILE in files:
            subfolders.clear()  # a run's own folders hold its profilers' artefacts
            try:
                run = load_run(here)
            except UsageError as error:
                print(f"dnn-suite: warning: skipped {here}: {error}", file=sys.stderr)
                continue
            yield _run_found(run.path, run.document, run.status, headlines(run))
        elif SWEEP_FILE in files:
            yield from _points_without_run(here)


def _run_found(path: Path, document: dict[str, Any], status: str, values: list[Any]) -> _Found:
    config = {**RECORDED_SINCE, **document.get("config", {})}
    metrics = {METRICS[headline.key]: value for headline, value in values if headline.key in METRICS}
    sweep = path.parent if (path.parent / SWEEP_FILE).is_file() else None
    row = {"model": config.get("model"), "variant": config.get("variant"), "scenario": config.get("scenario"),
           "batch_size": config.get("batch_size"), "device": document.get("device", config.get("device")),
           **metrics, "status": status, "error": document.get("error"), "run": str(path),
           "sweep": None if sweep is None else str(sweep)}
    return _Found(row, flatten(config))


def _points_without_run(sweep: Path) -> Iterator[_Found]:
    """A sweep's points that ended before creating a run directory (killed at start, refused by
    the scheduler): rows from what sweep.json knows of them."""
    try:
        document = json.loads((sweep / SWEEP_FILE).read_text(encoding="utf-8"))
        points = [point for point in document["points"] if not point.get("run_dir")]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"dnn-suite: warning: skipped {sweep / SWEEP_FILE}: {reason(exc)}", file=sys.stderr)
        return
    for point in points:
        settings = point.get("settings") or {}
        config = {"model": document.get("model"), "variant": document.get("variant"), **RECORDED_SINCE, **settings,
                  "batch_size": point.get("batch_size")}
        row = {**{key: config.get(key) for key in FIXED}, "status": point.get("status"),
               "error": point.get("reason"), "run": None, "sweep": str(sweep)}
        yield _Found(row, config)


def differing_settings(configs: list[dict[str, Any]], leave_out: tuple[str, ...] = FIXED) -> list[str]:
    """The settings (flattened key paths) whose values differ between the configurations that
    have them, bookkeeping and ``leave_out`` (columns of their own) left out. A key only some runs
    have (a model option of one model) differs when two runs that have it disagree."""
    flats = [flatten(config) for config in configs]
    keys = dict.fromkeys(key for flat in flats for key in flat)
    return [key for key in keys if key not in leave_out and key.split(".")[0] not in NOT_SETTINGS
            and len({json.dumps(flat[key], sort_keys=True) for flat in flats if key in flat}) > 1]


def _row(item: _Found, settings: list[str]) -> dict[str, Any]:
    row = item.row
    return {**{key: row.get(key) for key in FIXED}, **{key: item.config.get(key) for key in settings},
            **{column: row.get(column) for column in METRICS.values()}, **{key: row.get(key) for key in LAST}}


def _condition(condition: str, found: list[_Found]) -> Callable[[_Found], bool]:
    """``--where KEY=VALUE`` (or !=, >, >=, <, <=) as a test of a row; the key must be a column or
    setting some row has, VALUE is read as YAML (``true``, ``8``, ``resnet18``)."""
    match = _CONDITION.match(condition)
    if match is None:
        raise UsageError(f"--where {condition!r}: expected KEY=VALUE (or !=, >, >=, <, <=), e.g. model=resnet18")
    key, sign, text = match.groups()
    if not any(key in item.row or key in item.config for item in found):
        known = sorted({k for item in found for k in (*item.row, *item.config)})
        raise UsageError(f"--where {key}: no run has it (columns and settings: {', '.join(known)})")
    try:
        wanted = yaml.safe_load(text) if text.strip() else text
    except yaml.YAMLError:
        wanted = text
    if sign not in ("=", "!=") and not _number(wanted):
        raise UsageError(f"--where {condition!r}: {sign} compares numbers; expected a number after it")

    def matches(item: _Found) -> bool:
        value = {**item.config, **item.row}.get(key)
        if value is None:
            return sign == "!="
        if _number(value) and _number(wanted):
            return _OPERATORS[sign](float(value), float(wanted))
        return sign in ("=", "!=") and _OPERATORS[sign](_text(value), _text(wanted))

    return matches


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (bool, type(None), list, dict)) else str(value)


def sort_rows(rows: list[dict[str, Any]], key: str, descending: bool = False) -> list[dict[str, Any]]:
    """``rows`` by the column ``key``: numbers by value, other values as text, rows without one last."""
    if rows and key not in rows[0]:
        raise UsageError(f"--sort {key}: not a column (columns: {', '.join(rows[0])})")
    present = [row for row in rows if row.get(key) is not None]
    missing = [row for row in rows if row.get(key) is None]
    present.sort(key=lambda row: (0, float(row[key]), "") if _number(row[key]) else (1, 0.0, _text(row[key])),
                 reverse=descending)
    return present + missing


def to_dataframe(rows: list[dict[str, Any]]) -> Any:
    """The rows as a pandas DataFrame, one column per key (pandas is optional: ``pip install pandas``)."""
    try:
        import pandas
    except ImportError:
        raise UsageError("the results as a DataFrame need pandas; install it with: pip install pandas") from None
    return pandas.DataFrame(rows)
