"""The report's document model (sections of text, tables and images) and its two renderings:
Markdown with the PNGs in a folder beside it, and one self-contained HTML file with the PNGs
embedded as ``data:`` URIs; a table alone as aligned text for the terminal or as Markdown."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from dnn_suite.atomic import write_atomic


@dataclass
class Text:
    text: str


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]


@dataclass
class Image:
    name: str
    """File name stem, unique within the report."""
    caption: str
    png: bytes


Block = Text | Table | Image


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)
    level: int = 2


@dataclass
class Report:
    title: str
    intro: list[Block]
    sections: list[Section]

    def images(self) -> list[Image]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Image)]


_NUMBER = re.compile(r"^[-+]?[\d,]*\.?\d+(e[-+]?\d+)?%?$|^n/a$")


def _numeric(table: Table) -> list[bool]:
    """Columns whose every cell is a number: right-aligned."""
    return [bool(table.rows) and all(_NUMBER.match(row[i]) for row in table.rows) for i in range(len(table.columns))]


# ----------------------------------------------------------------- Markdown


def write_markdown(report: Report, path: Path) -> None:
    """``path`` and its images in ``<stem>_files/`` beside it, linked relatively."""
    folder = path.with_name(f"{path.stem}_files")
    if report.images():
        folder.mkdir(exist_ok=True)
    for image in report.images():
        write_atomic(folder / f"{image.name}.png", image.png)
    write_atomic(path, render_markdown(report, folder.name))


def render_markdown(report: Report, image_folder: str) -> str:
    out = [f"# {_md(report.title)}", ""]
    for section in [Section("", report.intro, 0), *report.sections]:
        if section.title:
            out += [f"{'#' * section.level} {_md(section.title)}", ""]
        for block in section.blocks:
            if isinstance(block, Text):
                out += [_md(block.text), ""]
            elif isinstance(block, Table):
                out += [markdown_table(block), ""]
            else:
                out += [f"![{_md(block.caption)}]({image_folder}/{block.name}.png)", ""]
    return "\n".join(out)


def markdown_table(table: Table) -> str:
    """The table in Markdown, numeric columns right-aligned."""
    right = _numeric(table)
    lines = ["| " + " | ".join(_md(c) for c in table.columns) + " |",
             "|" + "|".join("---:" if r else "---" for r in right) + "|"]
    return "\n".join(lines + ["| " + " | ".join(_md(c) for c in row) + " |" for row in table.rows])


def text_table(table: Table) -> str:
    """The table as aligned columns for the terminal, two spaces apart."""
    rows = [table.columns, *table.rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(table.columns))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


def _md(text: str) -> str:
    """Escape what Markdown would take as table syntax, emphasis or HTML (kernel names hold
    ``<float>``, ``*`` and ``|``)."""
    for char in "\\|*`[]":
        text = text.replace(char, "\\" + char)
    return text.replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")


# ----------------------------------------------------------------- HTML

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; } h3 { margin-top: 1.5em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; } img { max-width: 100%; height: auto; } figcaption { color: #555; font-size: 0.9em; }
"""


def render_html(report: Report) -> str:
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>{html.escape(report.title)}</title>", f"<style>{_STYLE}</style>", "</head>", "<body>",
           f"<h1>{html.escape(report.title)}</h1>"]
    for section in [Section("", report.intro, 0), *report.sections]:
        if section.title:
            out.append(f"<h{section.level}>{html.escape(section.title)}</h{section.level}>")
        out += [_html_block(block) for block in section.blocks]
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def _html_block(block: Block) -> str:
    if isinstance(block, Text):
        return f"<p>{html.escape(block.text)}</p>"
    if isinstance(block, Image):
        data = base64.b64encode(block.png).decode("ascii")
        caption = html.escape(block.caption)
        return (f'<figure><img src="data:image/png;base64,{data}" alt="{caption}">'
                f"<figcaption>{caption}</figcaption></figure>")
    opening = ['<td class="num">' if right else "<td>" for right in _numeric(block)]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in block.columns)
    rows = "".join(
        "<tr>" + "".join(f"{td}{html.escape(c)}</td>" for td, c in zip(opening, row, strict=True)) + "</tr>"
        for row in block.rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
