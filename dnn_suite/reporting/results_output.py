"""The results table (:mod:`dnn_suite.reporting.results`) printed or written: aligned text for the
terminal, CSV, JSON, Markdown, or an HTML page with the table and a throughput chart.

CSV and JSON keep every column with exact values (None as an empty cell or null); the text,
Markdown and HTML tables show numbers rounded, leave out the error text and the sweep folder
(the run's path names it), and drop columns no row has a value in.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

from dnn_suite import __version__
from dnn_suite.atomic import write_atomic
from dnn_suite.errors import UsageError
from dnn_suite.reporting import plots
from dnn_suite.reporting.plots import Axes
from dnn_suite.reporting.render import Block, Image, Report, Section, Table, Text, markdown_table, render_html, text_table
from dnn_suite.reporting.results import FIXED, METRICS, collect

FORMATS = ("table", "csv", "json", "markdown", "html")
#: the format of ``--output FILE`` by its suffix, when --format is not given
SUFFIXES = {".csv": "csv", ".json": "json", ".md": "markdown", ".markdown": "markdown", ".html": "html",
            ".htm": "html"}
#: columns that only CSV and JSON hold
NOT_SHOWN = ("error", "sweep")
#: digits shown of a metric (2 otherwise)
DIGITS = {"mAP": 4, "top1": 4, "peak_rss_mib": 0, "peak_cuda_mib": 0}


def results_command(paths: list[Path], fmt: str | None, where: list[str], sort: str | None, descending: bool,
                    output: Path | None) -> int:
    """``dnn-suite results``: the table printed, or written to ``output`` (the format from its suffix
    unless given)."""
    if output is not None:
        if output.is_dir():
            raise UsageError(f"--output {output}: is a directory; expected a file name such as results.csv")
        if not output.parent.is_dir():
            raise UsageError(f"--output {output}: no such directory {output.parent}")
    fmt = fmt or (SUFFIXES.get(output.suffix.lower(), "table") if output is not None else "table")
    rows = collect(paths, where, sort, descending)
    if not rows:
        print(f"dnn-suite: no run matches {' and '.join(where)}", file=sys.stderr)
    text = render(rows, fmt, paths)
    if output is None:
        sys.stdout.write(text)
        return 0
    write_atomic(output, text)
    print(f"results written to {output} ({len(rows)} rows)")
    return 0


def render(rows: list[dict[str, Any]], fmt: str, paths: list[Path] | None = None) -> str:
    """The rows in ``fmt`` (one of :data:`FORMATS`), ending with a newline."""
    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else [*FIXED, *METRICS.values()],
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows({key: "" if value is None else value for key, value in row.items()} for row in rows)
        return buffer.getvalue()
    table = shown_table(rows)
    if fmt == "markdown":
        return markdown_table(table) + "\n"
    if fmt == "html":
        return render_html(_report(rows, table, paths or []))
    return text_table(table) + "\n"


def shown_table(rows: list[dict[str, Any]]) -> Table:
    """The rows as the text, Markdown and HTML tables show them."""
    columns = [key for key in (rows[0] if rows else [*FIXED, *METRICS.values()]) if key not in NOT_SHOWN
               and (not rows or any(row[key] is not None for row in rows))]
    return Table(columns, [[_cell(column, row[column]) if rows else "" for column in columns] for row in rows])


def _cell(column: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:,.{DIGITS.get(column, 2)}f}"
    if column == "run":
        return _relative(value)
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def _relative(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path


def _report(rows: list[dict[str, Any]], table: Table, paths: list[Path]) -> Report:
    intro: list[Block] = [Text(f"Runs under {', '.join(str(p.resolve()) for p in paths)}. Generated "
                               f"{time.strftime('%Y-%m-%d %H:%M:%S %z')} by dnn-suite {__version__}.")]
    blocks: list[Block] = [table]
    measured = [row for row in rows if row.get("throughput") is not None]
    if not plots.available():
        blocks.append(Text(plots.install_hint()))
    elif measured:
        labels = [_label(row, table.columns) for row in measured]
        png = plots.bars(labels, [row["throughput"] for row in measured],
                         Axes("throughput (samples/s)", "", "Throughput of each run"))
        blocks.append(Image("throughput", "Throughput of each run (samples/s)", png))
    return Report(f"dnn-suite results: {len(rows)} runs", intro, [Section("Runs", blocks)])


def _label(row: dict[str, Any], columns: list[str]) -> str:
    """``resnet18 default bs 8 model_options.amp=true``: the run's model and what differs."""
    settings = [f"{key}={_cell(key, row[key])}" for key in columns
                if key not in (*FIXED, *METRICS.values(), "status", "run") and row.get(key) is not None]
    return " ".join([str(row["model"]), str(row["variant"]), f"bs {row['batch_size']}", *settings])
