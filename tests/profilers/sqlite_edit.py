"""Editing the SQLite files the conftest builders write, to make other versions or broken ones."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path


def edited(path: Path, *statements: str) -> Path:
    """``path`` (created if missing) after running ``statements`` on it: a table dropped, a column renamed..."""
    with closing(sqlite3.connect(path)) as conn:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    return path
