"""Read-only access to the SQLite files nvprof (``.nvvp``) and ``nsys export`` write."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .errors import InvalidProfileFile

SQLITE_MAGIC = b"SQLite format 3\x00"


def is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError as e:
        raise InvalidProfileFile(path, f"cannot read it ({e.strerror})", "a profiler output file") from e


def open_sqlite(path: Path, expected: str) -> sqlite3.Connection:
    """Open ``path`` read-only; ``expected`` names the format for the error message."""
    if not is_sqlite(path):
        raise InvalidProfileFile(path, "not an SQLite database", expected)
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1")
    except sqlite3.DatabaseError as e:
        raise InvalidProfileFile(path, f"unreadable SQLite database ({e})", expected) from e
    return conn


def table_names(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def column_names(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')}


def query(conn: sqlite3.Connection, path: Path, sql: str, expected: str, params: tuple = ()) -> list[tuple]:
    """Run ``sql``; a schema mismatch (missing column, ...) becomes :class:`InvalidProfileFile`."""
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.DatabaseError as e:
        raise InvalidProfileFile(path, f"unexpected schema ({e})", expected) from e
