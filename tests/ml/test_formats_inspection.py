"""Inspection's shortcuts (Parquet statistics, the CSV scan's number path) count what the rule counts."""

import datetime
import decimal
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ml import formats
from ml.formats import csv, parquet
from ml.formats.rules import Reading

NAN = float("nan")
TABLE = pa.table(
    {
        "i": pa.array([1, None, 3, 4, None, 6], pa.int32()),
        "f": pa.array([1.0, NAN, None, 2.5, 3.0, NAN]),
        "s": pa.array(["a", "", "NA", None, "null", "b"]),
        "ls": pa.array(["a", "", "x", None, "N/A", "b"], pa.large_string()),
        "ld": pa.array(["a", "", "a", None, "N/A", "b"], pa.large_string()).dictionary_encode(),
        "d": pa.array(["x", "NA", "x", None, "y", "x"]).dictionary_encode(),
        "dn": pa.array([1.0, NAN, 1.0, None, 2.0, 1.0]).dictionary_encode(),
        "b": pa.array([True, None, False, True, None, None]),
        "dt": pa.array([datetime.date(2020, 1, 1), None, None, datetime.date(2020, 1, 2), None, None]),
        "dec": pa.array([decimal.Decimal("1.5"), None, None, None, decimal.Decimal("2"), None]),
        "lst": pa.array([[1, None], None, [], [3], None, [1]]),
        "st": pa.array([{"a": 1, "b": None}, None, {"a": None, "b": "x"}, None, None, {"a": 2, "b": "y"}]),
        "a.b": pa.array([1, 2, None, 4, 5, 6]),
        "n": pa.array([None] * 6, pa.null()),
        "label": pa.array(["x", "", "NA", None, "y", "x"]),
    }
)
# Under the rule: nulls, NaN numbers, empty text and the default tokens; the classification target only
# nulls and empty text.
MISSING = {
    "i": 2,
    "f": 3,
    "s": 4,
    "ls": 3,
    "ld": 3,
    "d": 2,
    "dn": 2,
    "b": 3,
    "dt": 4,
    "dec": 4,
    "lst": 2,
    "st": 3,
    "a.b": 1,
    "n": 6,
}


@pytest.mark.parametrize(
    "options",
    [{}, {"write_statistics": False}, {"row_group_size": 4}, {"row_group_size": 2, "use_dictionary": False}],
    ids=["statistics", "no-statistics", "row-groups", "plain"],
)
def test_parquet_missing_counts_follow_the_rule_with_or_without_statistics(tmp_path, options):
    path = tmp_path / "t.parquet"
    pq.write_table(TABLE, path, **options)
    reading = Reading(target="label", task="classification")
    rows, columns = parquet.inspect(path, reading)
    assert rows == 6
    counted = {c["name"]: c["missing"] for c in columns}
    assert counted == {**MISSING, "label": 2}
    # The same as the nulls of the table every later step reads.
    schema = {"columns": columns, "target": "label", "task": "classification"}
    table = formats.read_table(path, "parquet", schema)
    assert counted == {name: table.column(name).null_count for name in table.column_names}


def test_parquet_reads_one_column_of_one_row_group_at_a_time_and_counts_integers_from_statistics(tmp_path, monkeypatch):
    path = tmp_path / "t.parquet"
    pq.write_table(TABLE, path, row_group_size=4)
    reads = []
    real = pq.ParquetFile.iter_batches

    def recording(self, batch_size=65536, row_groups=None, columns=None, use_threads=True, **kwargs):
        reads.append((row_groups, columns, use_threads))
        return real(self, batch_size, row_groups=row_groups, columns=columns, use_threads=use_threads, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", recording)
    parquet.inspect(path, Reading())
    assert all(len(groups) == 1 and len(columns) == 1 and not threads for groups, columns, threads in reads)
    read = {columns[0] for _, columns, _ in reads}
    assert read >= {"f", "s", "ls", "ld", "d", "dn", "lst", "st", "label"}  # NaN, tokens, nested values
    assert read.isdisjoint({"i", "b", "dt", "dec", "a.b"})  # null counts from the statistics
    assert [groups for groups, columns, _ in reads if columns == ["f"]] == [[0], [1]]  # each row group once


def test_parquet_text_is_counted_from_statistics_only_when_its_range_leaves_out_every_token(tmp_path, monkeypatch):
    path = tmp_path / "t.parquet"
    table = pa.table(
        {
            "pets": ["cat", "dog", None, "cow"],  # "", "N/A", "NA", "NULL", "NaN" < "cat" ... "dog" < "null"
            "kinds": ["mammal", "null", None, "bird"],  # "null" lies in [bird, null]
            "accents": ["été", "été", None, "éte"],  # not ASCII: the range is not trusted
            "label": ["a", "b", None, "c"],  # a classification target: "" is its only token
        }
    )
    pq.write_table(table, path)
    read = []
    real = pq.ParquetFile.iter_batches

    def recording(self, *args, columns=None, **kwargs):
        read.append(columns[0])
        return real(self, *args, columns=columns, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", recording)
    _, columns = parquet.inspect(path, Reading(target="label", task="classification"))
    assert {c["name"]: c["missing"] for c in columns} == {"pets": 1, "kinds": 2, "accents": 1, "label": 1}
    assert read == ["kinds", "accents"]


def test_parquet_numeric_classification_target_counts_nulls_and_nan(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"x": [1, 2, 3, 4], "y": [1.0, NAN, None, 2.0]}), path)
    _, columns = parquet.inspect(path, Reading(target="y", task="classification"))
    assert columns[1] == {"name": "y", "dtype": "string", "missing": 2}


def scan(text: str, na_values=("NA", "N/A", "NaN", "null", "NULL"), block_bytes: int = 64) -> dict:
    """{column: (kind, empty, na)} from the scan, with blocks small enough to make many batches."""
    _, columns = csv._scan(io.BytesIO(text.encode()), Reading(na_values=tuple(na_values)), block_bytes=block_bytes)
    return {c["name"]: (c["kind"], c["empty"], c["na"]) for c in columns}


def test_csv_a_nan_token_in_a_later_batch_leaves_an_int_column_int():
    text = "n\n" + "1\n" * 100 + "NaN\n" + "2\n" * 100
    assert scan(text) == {"n": ("int64", 0, 1)}
    # Without the token, a NaN number widens the column and is missing.
    assert scan(text, na_values=()) == {"n": ("float64", 0, 1)}


def test_csv_a_token_that_reads_as_a_number_is_missing_not_a_value():
    text = "n,f\n" + "1,0.5\n" * 50 + "-999,-999\n" + ",2.5\n" * 50
    assert scan(text, na_values=("-999",)) == {"n": ("int64", 50, 1), "f": ("float64", 0, 1)}
    assert scan(text, na_values=()) == {"n": ("int64", 50, 0), "f": ("float64", 0, 0)}


def test_csv_empty_cells_tokens_and_nan_are_counted_apart():
    text = "f,b,s,e\n" + "1.5,true,a,\n" * 40 + ',,NA,""\n' + "nan,FALSE,,NA\n" + "NaN,false,null,\n" * 40
    assert scan(text) == {
        "f": ("float64", 1, 41),  # nan is a NaN number, NaN a token: both missing
        "b": ("bool", 1, 0),
        "s": ("string", 1, 41),
        "e": ("empty", 81, 1),
    }


def test_csv_nan_numbers_are_missing_only_if_the_column_ends_up_numbers_whatever_the_batches():
    # NaN numbers in early batches, text at the end: a text column, where `nan` is a value and NaN a token.
    text = "c\n" + "nan\n" * 30 + "NaN\n" * 30 + "1.5\n" * 30 + "abc\n"
    assert scan(text) == {"c": ("string", 0, 30)}
    assert scan(text, block_bytes=1 << 20) == {"c": ("string", 0, 30)}
    assert scan(text.replace("abc", "2")) == {"c": ("float64", 0, 60)}


def test_csv_upload_parse_uses_small_blocks_and_long_rows_are_read_from_the_file(tmp_path):
    long_row = "x" * (3 * csv.STREAM_BLOCK_BYTES)  # a row may span two blocks, not more
    path = tmp_path / "long.csv"
    path.write_text(f"a,y\n{long_row},1\nb,2\n")
    early = csv.StreamInspector()
    early.feed(path.read_bytes())
    with pytest.raises(pa.ArrowInvalid):
        early.result(Reading())
    rows, columns, extra = csv.inspect(path, Reading(), early)
    assert rows == 2 and [c["dtype"] for c in columns] == ["string", "int64"] and extra == {}


def test_a_csv_line_longer_than_two_blocks_is_read_in_large_blocks_on_every_path(tmp_path):
    from ml import formats

    document = "word " * (3 * csv.BLOCK_BYTES // 5)  # a 3 MiB text cell
    path = tmp_path / "long.csv"
    path.write_text(f'text,y\n"{document}",a\nshort,b\n')
    schema = formats.inspect(path, "csv", formats.Reading(target="y", task="classification")).schema
    assert schema["block_bytes"] == csv.LARGE_BLOCK_BYTES
    table = formats.read_table(path, "csv", schema)
    assert table.column("text").to_pylist() == [document, "short"] and table.column("y").to_pylist() == ["a", "b"]


def test_a_corrupt_page_that_statistics_skipped_is_a_format_error_when_read(tmp_path):
    import numpy as np
    import pyarrow.parquet as pq

    from ml import formats

    path = tmp_path / "corrupt.parquet"
    table = pa.table({"a": pa.array(np.arange(100_000)), "label": pa.array(["x", "y"] * 50_000)})
    pq.write_table(table, path, compression="snappy")
    data = bytearray(path.read_bytes())
    data[2000:2400] = b"\xab" * 400  # inside the integer column's first data page
    path.write_bytes(bytes(data))
    reading = formats.Reading(target="label", task="classification")
    schema = formats.inspect(path, "parquet", reading).schema  # counted from the footer's statistics
    with pytest.raises(formats.FormatError, match="rows from 1: Corrupt snappy"):
        formats.read_table(path, "parquet", schema)
