"""Reading the tools' text output: byte-order marks, undecodable bytes, line endings, numbers."""

import csv

import pytest

from dnn_suite_profilers.analyzers import InvalidProfileFile
from dnn_suite_profilers.analyzers.textfile import open_text, parse_number, read_lines


def test_read_lines_drops_the_byte_order_mark_and_keeps_undecodable_bytes_as_replacement(tmp_path):
    path = tmp_path / "tool.log"
    path.write_bytes(b"\xef\xbb\xbf==PROF== start\r\nbad \xff byte\r\nlast")
    assert read_lines(path, "a log") == ["==PROF== start", "bad \ufffd byte", "last"]


def test_open_text_keeps_line_endings_for_csv_quoted_fields(tmp_path):
    # The csv module needs the file opened with newline="" to keep a newline inside a quoted field as written.
    path = tmp_path / "table.csv"
    path.write_bytes(b'name,value\r\n"two\r\nlines",1\r\n')
    with open_text(path, "a CSV") as f:
        assert list(csv.reader(f)) == [["name", "value"], ["two\r\nlines", "1"]]


def test_unreadable_file_names_the_reason_and_the_expected_format(tmp_path):
    path = tmp_path / "missing.log"
    with pytest.raises(InvalidProfileFile) as error:
        open_text(path, "an ncu --csv log")
    assert str(error.value) == f"{path}: cannot read it (No such file or directory); expected an ncu --csv log"
    assert error.value.path == path
    with pytest.raises(InvalidProfileFile, match=r"^.*missing\.log: cannot read it \(No such file or directory\); "
                                                 r"expected a log$"):
        read_lines(path, "a log")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("10,240,000", 10_240_000.0),
        (" 12.5 ", 12.5),
        ("-3e2", -300.0),
        ("1,234.5", 1234.5),
        ("inf", float("inf")),
    ],
)
def test_parse_number(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["", "   ", "n/a", "N/A", "nan", "NaN", " nan ", " N/A ", "abc", "1.2.3", "12 %"])
def test_parse_number_missing_or_not_a_number(text):
    assert parse_number(text) is None
