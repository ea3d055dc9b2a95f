"""ml.formats cases found by the problem corpus (tests/datasets/test_corpus.py), each pinned at the reader."""

import numpy as np
import pytest

from ml import formats

CLASSIFY = formats.Reading(target="label", task="classification")


def _inspect(tmp_path, data: bytes, name: str, reading=CLASSIFY) -> formats.Inspection:
    path = tmp_path / name
    path.write_bytes(data)
    return formats.inspect(path, formats.detect_format(name), reading)


def test_bad_utf8_in_the_csv_header_names_line_and_column(tmp_path):
    with pytest.raises(formats.FormatError, match=r"line 1, column 4: the file is not valid UTF-8"):
        _inspect(tmp_path, b"a,b\xe9,label\n1,2,x\n", "latin1.csv")


def test_an_unclosed_quote_is_named_by_the_line_it_opens_on(tmp_path):
    with pytest.raises(formats.FormatError, match=r"^line 3: .*never closes"):
        _inspect(tmp_path, b'a,b,label\n1,2,x\n3,"open,y\n4,5,z\n6,7,x\n', "quote.csv")


def test_integers_beyond_2_53_reach_training_as_the_nearest_float(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_bytes(b"id,label\n-9223372036854775808,x\n9007199254740993,y\n")
    schema = formats.inspect(path, "csv", CLASSIFY).schema
    assert schema["columns"][0]["dtype"] == "int64"
    ids = formats.arrays(path, "csv", schema)["id"]
    assert ids.dtype == np.float64 and ids.tolist() == [-9.223372036854776e18, 9007199254740992.0]


def test_parquet_counts_nulls_and_nan_of_a_float_column_as_missing(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "floats.parquet"
    pq.write_table(pa.table({"f": [0.5, None, float("nan"), 1.5], "label": ["a", "b", "a", "b"]}), path)
    schema = formats.inspect(path, "parquet", CLASSIFY).schema
    assert schema["columns"][0] == {"name": "f", "dtype": "float64", "missing": 2}
    assert formats.read_table(path, "parquet", schema).column("f").null_count == 2


@pytest.mark.parametrize("task", ["classification", "text-classification", "image-classification"])
def test_the_target_of_every_classification_task_is_text_as_written(tmp_path, task):
    reading = formats.Reading(target="label", task=task)
    schema = _inspect(tmp_path, b"text,label\nhi,007\nyo,7\nok,\n", "labels.csv", reading).schema
    assert schema["columns"][1] == {"name": "label", "dtype": "string", "missing": 1}
    assert formats.arrays(tmp_path / "labels.csv", "csv", schema)["label"].tolist() == ["007", "7", None]


def test_a_huge_integer_widens_a_column_to_float64_in_jsonl_as_in_csv(tmp_path):
    huge = 2**70
    jsonl = _inspect(tmp_path, f'{{"n": {huge}, "label": "x"}}\n{{"n": 1, "label": "y"}}\n'.encode(), "n.jsonl")
    csv = _inspect(tmp_path, f"n,label\n{huge},x\n1,y\n".encode(), "n.csv")
    assert jsonl.schema["columns"][0]["dtype"] == csv.schema["columns"][0]["dtype"] == "float64"
    table = formats.read_table(tmp_path / "n.jsonl", "jsonl", jsonl.schema)
    assert table.column("n").to_pylist() == [float(huge), 1.0]
    beyond = _inspect(tmp_path, f'{{"n": {2**1024 - 2**970}, "label": "x"}}\n'.encode(), "beyond.jsonl")
    assert beyond.schema["columns"][0]["dtype"] == "string"  # no float holds it: kept as its digits


def test_csv_written_by_processing_reads_back_in_the_same_types(tmp_path):
    source = _inspect(tmp_path, b"a,b,c,label\n1.0,2,1.5,x\n2.0,3,,y\n,4,1e300,x\n", "in.csv")
    table = formats.read_table(tmp_path / "in.csv", "csv", source.schema)
    formats.write_table(table, tmp_path / "out.csv", "csv")
    again = _inspect(tmp_path, (tmp_path / "out.csv").read_bytes(), "out.csv")
    assert again.schema["columns"] == source.schema["columns"]
    assert [c["dtype"] for c in again.schema["columns"]] == ["float64", "int64", "float64", "string"]
    assert formats.read_table(tmp_path / "out.csv", "csv", again.schema).equals(table)


def test_a_parquet_column_without_values_is_empty_whatever_its_declared_type(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "blank.parquet"
    table = {"t": pa.array([None, None], pa.string()), "n": pa.nulls(2), "f": [float("nan"), None], "label": ["a", "b"]}
    pq.write_table(pa.table(table), path)
    schema = formats.inspect(path, "parquet", CLASSIFY).schema
    assert [(c["dtype"], c["missing"]) for c in schema["columns"]] == [("empty", 2)] * 3 + [("string", 0)]
    read = formats.read_table(path, "parquet", schema)
    assert [read.column(n).null_count for n in ("t", "n", "f")] == [2, 2, 2]


# --- found by a review of the data layer ----------------------------------------------------------------


def _npz(tmp_path, **arrays) -> bytes:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _every_path(tmp_path, name: str, reading=CLASSIFY):
    """Inspection, the whole table, a preview and the training arrays of one file, which must agree."""
    path = tmp_path / name
    fmt = formats.detect_format(name)
    schema = formats.inspect(path, fmt, reading).schema
    table = formats.read_table(path, fmt, schema)
    with open(path, "rb") as fh:
        preview = formats.preview(fh, fmt, schema, limit=1000)
    return schema, table, preview, formats.arrays(path, fmt, schema)


def test_a_fortran_ordered_npz_sample_array_is_read_by_every_path(tmp_path):
    x = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    (tmp_path / "f.npz").write_bytes(_npz(tmp_path, x=x, label=np.array(["a", "b"])))
    schema, table, preview, arrays = _every_path(tmp_path, "f.npz")
    assert preview["rows"] == [[[0.0, 1.0, 2.0], "a"], [[3.0, 4.0, 5.0], "b"]]
    assert np.array_equal(arrays["x"], x) and table.num_rows == 2


def test_uint64_values_beyond_int64_widen_to_float64(tmp_path):
    big = np.array([2**64 - 1, 1], dtype=np.uint64)
    (tmp_path / "u.npz").write_bytes(_npz(tmp_path, big=big, label=np.array(["a", "b"])))
    schema, table, preview, arrays = _every_path(tmp_path, "u.npz")
    assert schema["columns"][0]["dtype"] == "float64" and arrays["big"].tolist() == [1.8446744073709552e19, 1.0]


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": np.zeros((3, 0)), "label": np.array(["a", "b", "c"])}, "array 'x' has shape (3, 0)"),
        ({"x": np.zeros(3), "label": np.array([[1], [2], [3]])}, "array 'label' is the target"),
        ({"x": np.array([b"ok", b"\xff"]), "label": np.array(["a", "b"])}, "array 'x', row 2: byte 1 is not UTF-8"),
    ],
    ids=["empty-samples", "2d-target", "bad-utf8-bytes"],
)
def test_npz_arrays_that_cannot_be_read_are_refused_at_inspection(tmp_path, arrays, message):
    (tmp_path / "bad.npz").write_bytes(_npz(tmp_path, **arrays))
    with pytest.raises(formats.FormatError, match=message.replace("(", r"\(").replace(")", r"\)")):
        formats.inspect(tmp_path / "bad.npz", "npz", CLASSIFY)


def test_npz_text_arrays_follow_the_rule_on_every_path(tmp_path):
    x = np.array(["NA", "1", "2"])
    label = np.array(["NA", "b", ""])
    (tmp_path / "t.npz").write_bytes(_npz(tmp_path, x=x, label=label))
    schema, table, preview, arrays = _every_path(tmp_path, "t.npz")
    assert [c["missing"] for c in schema["columns"]] == [1, 1]  # x's NA token; the label's empty text
    assert table.column("x").null_count == 1 and table.column("label").to_pylist() == ["NA", "b", None]
    assert arrays["x"].tolist() == [None, "1", "2"] and arrays["label"].tolist() == ["NA", "b", None]


def test_non_finite_numbers_are_missing_in_number_columns_and_text_in_text_columns(tmp_path):
    lines = (
        '{"a": NaN, "b": NaN, "label": "x"}\n'
        '{"a": Infinity, "b": "abc", "label": NaN}\n'
        '{"a": 1.5, "b": 2, "label": Infinity}\n'
    )
    (tmp_path / "n.jsonl").write_text(lines)
    schema, table, preview, arrays = _every_path(
        tmp_path, "n.jsonl", formats.Reading(**{**CLASSIFY.__dict__, "na_values": ()})
    )
    columns = {c["name"]: (c["dtype"], c["missing"]) for c in schema["columns"]}
    # a: NaN and Infinity are missing numbers; b is text, where NaN is just text (no tokens); NaN is no label
    assert columns == {"a": ("float64", 2), "b": ("string", 0), "label": ("string", 1)}
    assert table.column("a").null_count == 2 and table.column("b").to_pylist() == ["NaN", "abc", "2"]
    assert table.column("label").to_pylist() == ["x", None, "inf"]


def test_classification_labels_keep_how_numbers_were_written(tmp_path):
    (tmp_path / "l.jsonl").write_text('{"x": 1, "label": 7}\n{"x": 2, "label": 7.0}\n{"x": 3, "label": "7"}\n')
    schema, table, preview, arrays = _every_path(tmp_path, "l.jsonl")
    assert arrays["label"].tolist() == ["7", "7.0", "7"]


def test_a_jsonl_line_over_the_cap_and_an_empty_key_are_refused(tmp_path, monkeypatch):
    from ml.formats import jsonl

    monkeypatch.setattr(jsonl, "MAX_LINE_BYTES", 64)
    with pytest.raises(formats.FormatError, match="line 2 is longer than"):
        _inspect(tmp_path, b'{"label": "a"}\n{"label": "' + b"x" * 100 + b'"}\n', "long.jsonl")
    with pytest.raises(formats.FormatError, match="line 1: a key is empty"):
        _inspect(tmp_path, b'{"": 1, "label": "a"}\n', "empty-key.jsonl")


def test_csv_inspection_and_reading_agree_on_what_is_a_number(tmp_path):
    # hex is text (Arrow's cast would read 0x1F as 31); inf and 1e400 are missing numbers on every path
    (tmp_path / "n.csv").write_text("h,f,label\n0x1F,inf,a\n2,1e400,b\n3,2.5,a\n")
    schema, table, preview, arrays = _every_path(tmp_path, "n.csv")
    assert [(c["dtype"], c["missing"]) for c in schema["columns"][:2]] == [("string", 0), ("float64", 2)]
    assert table.column("h").to_pylist() == ["0x1F", "2", "3"] and table.column("f").to_pylist() == [None, None, 2.5]
    assert [row[1] for row in preview["rows"]] == [None, None, 2.5]
    assert np.isnan(arrays["f"][:2]).all() and arrays["f"][2] == 2.5


def test_a_header_without_rows_or_newline_is_a_clear_400(tmp_path):
    with pytest.raises(formats.FormatError, match="the file has no data rows"):
        _inspect(tmp_path, b"a,b,label", "header.csv")


def test_a_jsonl_key_given_twice_is_refused_naming_it(tmp_path):
    with pytest.raises(formats.FormatError, match="line 2: the key 'x' appears twice in one object"):
        _inspect(tmp_path, b'{"x": 1, "label": "a"}\n{"x": 1, "x": 2, "label": "b"}\n', "dup.jsonl")


def test_parquet_timestamps_and_dates_become_iso_text(tmp_path):
    import datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "at": pa.array([datetime.datetime(2020, 1, 1, 12, 30, 5), None], pa.timestamp("s")),
            "day": pa.array([datetime.date(2020, 1, 2), datetime.date(2021, 3, 4)]),
            "label": ["a", "b"],
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    schema, read, preview, arrays = _every_path(tmp_path, "t.parquet")
    assert [(c["dtype"], c["missing"]) for c in schema["columns"][:2]] == [("string", 1), ("string", 0)]
    # Parquet stores seconds as milliseconds
    assert preview["rows"] == [["2020-01-01T12:30:05.000", "2020-01-02", "a"], [None, "2021-03-04", "b"]]


def test_a_classification_target_of_dates_is_their_iso_text(tmp_path):
    import datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    days = [datetime.date(2020, 1, 2), datetime.date(2021, 3, 4), None]
    pq.write_table(pa.table({"x": [1, 2, 3], "label": pa.array(days)}), tmp_path / "d.parquet")
    schema, table, preview, arrays = _every_path(tmp_path, "d.parquet")
    assert schema["columns"][1] == {"name": "label", "dtype": "string", "missing": 1}
    assert arrays["label"].tolist() == ["2020-01-02", "2021-03-04", None]
