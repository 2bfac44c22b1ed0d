"""Reading the text formats: whole files or line streams, and numbers as the tools print them."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from .errors import InvalidProfileFile

MISSING_VALUES = {"", "n/a", "N/A", "nan", "NaN"}


def open_text(path: Path, expected: str) -> TextIO:
    """Open for reading, without a byte-order mark; undecodable bytes (program output can be
    anything) become U+FFFD."""
    try:
        return path.open(encoding="utf-8-sig", errors="replace", newline="")
    except OSError as e:
        raise InvalidProfileFile(path, f"cannot read it ({e.strerror})", expected) from e


def read_lines(path: Path, expected: str) -> list[str]:
    with open_text(path, expected) as f:
        return f.read().splitlines()


def parse_number(text: str) -> float | None:
    """``"10,240,000"`` -> 10240000.0; missing (``n/a``, empty) or non-numeric -> None."""
    text = text.strip()
    if text in MISSING_VALUES:
        return None
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None
