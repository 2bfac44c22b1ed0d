"""The result every analyzer returns, and its terminal rendering."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dnn_suite.metrics import Metric, readable

Row = dict[str, Any]

_CELL_WIDTH = 100
DIAGNOSIS = "diagnosis"
#: a column's unit from its name's ending, where its table declares none (``kernel_ns``, ``idle_pct``)
UNIT_SUFFIXES = {"_ns": "ns", "_us": "us", "_ms": "ms", "_s": "s", "_bytes": "bytes", "_pct": "%"}


@dataclass
class Analysis:
    """Numbers read from one profiler output file.

    ``metrics`` holds the headline numbers (per-device ones are prefixed ``gpu<N>.``);
    ``tables`` holds row lists such as ``per_device``, ``top_kernels`` or ``per_kernel``,
    every value a plain str/int/float/None so that the whole object is JSON-serialisable.
    ``column_units`` gives a table's column units (``bytes``, ``ns``, ``%``) where the column's
    name does not end in one (:data:`UNIT_SUFFIXES`): the terminal shows them readable
    (``1.71 GiB``, ``12.5 ms``), the JSON keeps the exact values.
    """

    tool: str
    source: Path
    metrics: dict[str, Metric]
    tables: dict[str, list[Row]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    column_units: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = {
            "tool": self.tool,
            "source": str(self.source),
            "metrics": {key: metric.to_json() for key, metric in self.metrics.items()},
            "tables": self.tables,
        }
        if self.warnings:
            data["warnings"] = self.warnings
        return data

    def format_text(self, max_rows: int = 15) -> str:
        """Metrics as aligned ``key value unit  description`` lines (units a person reads), then each table."""
        lines = [f"{self.tool} analysis of {self.source}"]
        if self.metrics:
            key_width = max(len(key) for key in self.metrics)
            values = {key: readable(m.value, m.unit) for key, m in self.metrics.items()}
            value_width = max(len(v) for v in values.values())
            for key, metric in self.metrics.items():
                line = f"  {key:<{key_width}}  {values[key]:<{value_width}}"
                if metric.description:
                    line += f"  ({metric.description})"
                lines.append(line.rstrip())
        for name, rows in self.tables.items():
            if name == DIAGNOSIS:
                continue
            lines.append("")
            lines.extend(format_table(name, rows, max_rows, self.column_units.get(name, {})))
        if DIAGNOSIS in self.tables:
            lines.append("")
            lines.extend(format_diagnosis(self.tables[DIAGNOSIS]))
        return "\n".join(lines)


def format_diagnosis(findings: list[Row]) -> list[str]:
    """The findings as a numbered list, most impact first: what, evidence, fix (never cut)."""
    if not findings:
        return ["diagnosis: no finding fired (see the rules in the docs)"]
    lines = ["diagnosis (most step time at stake first)"]
    for row in findings:
        lines.append(f"  {row['rank']}. {row['finding']}: {row['evidence']}")
        lines.append(f"     fix: {row['fix']}")
    return lines


def format_value(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def column_unit(column: str, declared: dict[str, str]) -> str:
    if column in declared:
        return declared[column]
    return next((unit for suffix, unit in UNIT_SUFFIXES.items() if column.endswith(suffix)), "")


def format_table(name: str, rows: list[Row], max_rows: int, units: dict[str, str] | None = None) -> list[str]:
    shown = rows[:max_rows]
    title = f"{name} ({len(rows)} row{'' if len(rows) == 1 else 's'}"
    title += f", first {max_rows} shown)" if len(rows) > max_rows else ")"
    if not shown:
        return [title]
    columns = list(dict.fromkeys(key for row in shown for key in row))
    column_units = [column_unit(column, units or {}) for column in columns]
    cells = [[_cell(row.get(column), unit) for column, unit in zip(columns, column_units, strict=True)]
             for row in shown]
    widths = [max(len(column), *(len(r[i]) for r in cells)) for i, column in enumerate(columns)]
    numeric = [all(_is_number(row.get(column)) for row in shown) for column in columns]
    out = [title, _line(columns, widths, numeric)]
    out.extend(_line(r, widths, numeric) for r in cells)
    return out


def _line(cells: list[str], widths: list[int], right: list[bool]) -> str:
    aligned = (c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True))
    return ("  " + "  ".join(aligned)).rstrip()


def _is_number(value: object) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _cell(value: object, unit: str = "") -> str:
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    text = readable(value, unit).replace(" %", "%") if unit and numeric else format_value(value)
    return text if len(text) <= _CELL_WIDTH else text[: _CELL_WIDTH - 3] + "..."
