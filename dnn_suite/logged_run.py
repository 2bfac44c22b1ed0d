"""A finished run as the loggers (``--log-to``) receive it: :class:`LoggedRun`.

The core reads the run's record (run.json, train.json or eval.json) and its per-step table once,
and hands every logger the same views, already named: the settings as parameters, the environment
as tags, the run's figures as one summary and its series (per measured window, per iteration or
training step) as ``(name, step, value)`` points. A logger plugin only maps them onto its tracker.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

#: the per-step tables a run directory holds: iterations.csv (``dnn-suite run``: measured iterations),
#: steps.csv (``dnn-suite train``: the loss at every step)
STEP_TABLES = {"run": "iterations.csv", "train": "steps.csv"}
#: files of a run directory not sent as artefacts: checkpoints (their path is in train.json)
NOT_SENT = (".pt", ".pth")
#: iterations.csv's columns that are not a series (they place the row)
PLACING_COLUMNS = ("window", "iteration", "rank")


@dataclass
class LoggedRun:
    """One finished run, for a logger's :func:`~dnn_suite.hookspecs.dnn_suite_log_run`.

    ``kind``: ``run``, ``train`` or ``eval`` (the command); ``name``: the run directory's name (the
    run's name in a tracker); ``document``: its record as written; ``status``: ``ok``, ``failed``
    or ``interrupted``; ``params``: every setting as text (``model_options.image_size``);
    ``tags``: the environment as text (``environment.torch``) and what ran (``dnn_suite.command``);
    ``summary``: the run's figures (``throughput``, ``step_time_s.median``,
    ``memory.max_rss_bytes``, ``evaluation.mAP``); ``series``: ``(name, step, value)`` points,
    ``window/throughput`` per measured window, ``step/step_s``, ``step/data_wait_s`` and
    ``step/loss`` (and its components) per measured iteration, ``step/loss`` and ``step/lr`` per
    training step, ``eval/<metric>`` at each evaluation of a training; ``artefacts``: the run
    directory's files (relative paths; checkpoints left out).
    """

    kind: str
    run_dir: Path
    document: dict[str, Any]
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    summary: dict[str, float] = field(default_factory=dict)
    series: list[tuple[str, int, float]] = field(default_factory=list)
    artefacts: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.run_dir.name

    @property
    def status(self) -> str:
        return str(self.document.get("status"))


def logged_run(kind: str, run_dir: Path, document: dict[str, Any]) -> LoggedRun:
    """The views of the run in ``run_dir`` whose record is ``document``."""
    metrics = dict(document.get("metrics") or {})
    evaluation = document.get("evaluation") or metrics.pop("evaluation", None)
    summary = dict(_numbers(metrics))
    summary.update(_numbers(evaluation or {}, "evaluation."))
    tags = {"dnn_suite.command": kind, "dnn_suite.status": str(document.get("status")),
            "dnn_suite.version": str(document.get("dnn_suite_version")), "device": str(document.get("device"))}
    tags.update(_texts(document.get("environment") or {}, "environment."))
    return LoggedRun(
        kind=kind, run_dir=run_dir, document=document, params=dict(_texts(document.get("config") or {})), tags=tags,
        summary=summary, series=[*_window_points(metrics), *_table_points(run_dir / STEP_TABLES.get(kind, "")),
                                 *_evaluation_points(metrics)],
        artefacts=sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*")
                         if p.is_file() and not p.name.endswith(NOT_SENT)),
    )


def _texts(values: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """Mappings flattened to dotted names; lists as JSON, None as an empty text."""
    for key, value in values.items():
        if isinstance(value, dict) and value:
            yield from _texts(value, f"{prefix}{key}.")
        elif not isinstance(value, dict):
            text = "" if value is None else value if isinstance(value, str) else json.dumps(value)
            yield f"{prefix}{key}", text


def _numbers(values: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, float]]:
    """The finite numbers of a mapping, flattened to dotted names; a ``{"value", "unit"}`` pair is
    its value under its own name; lists (windows, ranks, loss curves) are series or left out."""
    for key, value in values.items():
        if isinstance(value, dict) and "value" in value and "unit" in value:
            value = value["value"]
        if isinstance(value, dict):
            yield from _numbers(value, f"{prefix}{key}.")
        elif _is_number(value):
            yield f"{prefix}{key}", float(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _window_points(metrics: dict[str, Any]) -> Iterator[tuple[str, int, float]]:
    for window in metrics.get("windows") or []:
        for key, value in window.items():
            if key != "index" and _is_number(value):
                yield f"window/{key}", int(window["index"]), float(value)


def _table_points(path: Path) -> Iterator[tuple[str, int, float]]:
    """A per-step table's numbers as ``step/<column>``: iterations.csv numbered in the order the
    measured iterations ran (rank 0's in a multi-process run), steps.csv by its ``step``."""
    if not path.is_file():
        return
    with open(path, newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("rank") in (None, "", "0")]
    for number, row in enumerate(rows):
        step = int(row.pop("step", number))
        for column, text in row.items():
            if column in PLACING_COLUMNS or not text:
                continue
            value = float(text)
            if math.isfinite(value):
                yield f"step/{column}", step, value


def _evaluation_points(metrics: dict[str, Any]) -> Iterator[tuple[str, int, float]]:
    """A training's periodic evaluations as ``eval/<metric>`` at the step each was made."""
    for record in metrics.get("evaluations") or []:
        for name, value in _numbers({k: v for k, v in record.items() if k != "step"}):
            yield f"eval/{name}", int(record["step"]), value
