"""Read-only SQLite access shared by the nvprof and nsys analyzers."""

import sqlite3
from contextlib import closing

import pytest

from dnn_suite_profilers.analyzers import InvalidProfileFile
from dnn_suite_profilers.analyzers.sqlite import column_names, is_sqlite, open_sqlite, query, table_names


@pytest.fixture
def database(tmp_path):
    path = tmp_path / "profile.sqlite"
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript("""
            CREATE TABLE "kernel events" (start INTEGER, "end" INTEGER, name TEXT);
            CREATE TABLE StringIds (id INTEGER PRIMARY KEY, value TEXT);
            CREATE INDEX by_start ON "kernel events" (start);
            CREATE VIEW kernel_names AS SELECT name FROM "kernel events";
            INSERT INTO "kernel events" VALUES (10, 20, 'gemm'), (30, 45, 'relu'), (50, 51, 'gemm');
        """)
        conn.commit()
    return path


def test_is_sqlite(tmp_path, database):
    assert is_sqlite(database)
    text = tmp_path / "notes.txt"
    text.write_text("SQLite format 2 is not it\n")
    assert not is_sqlite(text)
    header_only = tmp_path / "header.bin"
    header_only.write_bytes(b"SQLite format 3\x00" + bytes(84))
    assert is_sqlite(header_only)  # the magic decides; whether it opens is open_sqlite's business


def test_is_sqlite_on_an_unreadable_path(tmp_path):
    with pytest.raises(InvalidProfileFile) as error:
        is_sqlite(tmp_path / "missing.nvvp")
    assert str(error.value) == (f"{tmp_path / 'missing.nvvp'}: cannot read it (No such file or directory); "
                                "expected a profiler output file")


def test_tables_columns_and_parameterized_query(database):
    with closing(open_sqlite(database, "a test database")) as conn:
        assert table_names(conn) == {"kernel events", "StringIds"}  # no index, no view
        assert column_names(conn, "kernel events") == {"start", "end", "name"}
        assert column_names(conn, "StringIds") == {"id", "value"}
        rows = query(conn, database, 'SELECT start, "end" FROM "kernel events" WHERE name = ? ORDER BY start',
                     "a test database", ("gemm",))
        assert rows == [(10, 20), (50, 51)]


def test_opened_read_only(database):
    with closing(open_sqlite(database, "a test database")) as conn, pytest.raises(sqlite3.OperationalError,
                                                                                match="readonly"):
        conn.execute("CREATE TABLE written (x)")


def test_schema_mismatch_names_the_missing_column(database):
    with closing(open_sqlite(database, "an nsys export")) as conn, pytest.raises(InvalidProfileFile) as error:
        query(conn, database, 'SELECT shortName FROM "kernel events"', "an nsys export")
    assert str(error.value) == f"{database}: unexpected schema (no such column: shortName); expected an nsys export"


def test_not_a_database(tmp_path):
    path = tmp_path / "report.nvvp"
    path.write_text("nvprof text output\n")
    with pytest.raises(InvalidProfileFile) as error:
        open_sqlite(path, "an nvprof .nvvp profile")
    assert str(error.value) == f"{path}: not an SQLite database; expected an nvprof .nvvp profile"


def test_truncated_database(tmp_path):
    path = tmp_path / "truncated.sqlite"
    path.write_bytes(b"SQLite format 3\x00" + bytes(50))
    with pytest.raises(InvalidProfileFile) as error:
        open_sqlite(path, "an nsys export")
    assert str(error.value).startswith(f"{path}: unreadable SQLite database (")
    assert str(error.value).endswith("); expected an nsys export")
